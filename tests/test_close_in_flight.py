"""``close()`` while calls are in progress: each ends with a typed error, none reopens the pool.

A web backend closes its client at shutdown while requests are still being served; a batch
job closes it when it gives up. The calls still running must end at once, each with an
``LLMObsError``, and nothing may be sent (or left open) after ``close()`` returned.
"""

from __future__ import annotations

import asyncio

import pytest

import ddllmobs_async as dd
from ddllmobs_async._batch import run_all
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.conftest import ClientFactory

QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
NO_RETRIES = dd.RetryPolicy(max_retries=0)


async def test_a_call_waiting_at_the_gate_fails_when_the_client_closes(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake, retry_policy=NO_RETRIES)
    fake.inject(Fault.rate_limited(reset=5.0))
    with pytest.raises(dd.RateLimitError):
        await client.aggregate(QUERY)  # the gate is now closed for 5 s
    waiting = asyncio.create_task(client.aggregate(QUERY))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    sent = len(fake.requests)
    await client.close()
    with pytest.raises(dd.APIConnectionError, match="closed"):
        await asyncio.wait_for(waiting, 1)  # not after the 5 s window: at once
    assert len(fake.requests) == sent


async def test_a_call_sleeping_before_its_retry_fails_when_the_client_closes(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    # The 429's Retry-After (5 s) is within max_rate_limit_wait: the call sleeps before its
    # retry. A shutdown awaiting its handlers must not wait those 5 s.
    client = make_client(fake, retry_policy=dd.RetryPolicy(max_retries=1))
    fake.inject(Fault.retry_after(5.0))
    sleeping = asyncio.create_task(client.aggregate(QUERY))
    await asyncio.sleep(0.1)
    assert len(fake.requests) == 1 and not sleeping.done()
    await client.close()
    with pytest.raises(dd.APIConnectionError, match="closed"):
        await asyncio.wait_for(sleeping, 1)  # at once, not after the 5 s
    assert len(fake.requests) == 1


async def test_calls_queued_and_in_flight_end_with_typed_errors_and_nothing_reopens(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake)  # retries on: a dropped connection would be retried
    fake.inject(Fault.delay(0.5))
    calls = [asyncio.create_task(client.aggregate(QUERY)) for _ in range(3)]
    await asyncio.sleep(0.1)  # one sent (a cold gate lets one probe out), two waiting
    await client.close()
    closed_at = len(fake.requests)
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 2)
    assert all(isinstance(outcome, dd.APIConnectionError) for outcome in outcomes), outcomes
    # the one on the wire too says why: not "Server disconnected", which blames the server
    assert all("client was closed during the call" in str(o) for o in outcomes), outcomes
    await asyncio.sleep(0.6)  # time for a wrongly reopened pool to send the retry
    assert len(fake.requests) == closed_at == 1
    assert client._session.closed  # no pool left open behind close()
    assert (await client.aggregate(QUERY)).hit_count > 0  # a call made later opens a new one


async def test_a_cancellation_during_a_failed_batch_is_not_lost() -> None:
    async def failing() -> None:
        await asyncio.sleep(0.001)  # the other one is running by then
        raise dd.LLMObsError("one query failed")

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0.05)  # still winding down when the caller is cancelled

    batch = asyncio.create_task(run_all([failing(), slow_to_stop()]))
    await asyncio.sleep(0.01)  # the first failed; the group waits for the second to stop
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
