"""Issue 10, "The invariant": every public call ends, within a bound computed from the settings.

Hypothesis generates a scenario: the client's settings and a sequence of answers a raw server
gives, in arrival order, to many concurrent calls (200 / 429 / 5xx with and without
``X-RateLimit-*`` and ``Retry-After``, absurd header values, silence until the timeout, resets,
truncated bodies). For each scenario the bound is computed from the documented guarantees
(``docs/rate-limits.md``):

* attempts per call: at most ``max_retries + 1``, every answered 429 included;
* each attempt: at most ``timeout``;
* each sleep: a backoff step (<= ``max_delay``) or a server wait <= ``max_rate_limit_wait``
  (+ ``rate_limit_jitter``); a longer wait fails the call at once;
* at the gate: a known window end (<= ``max_rate_limit_wait`` away), first come, first served,
  so with K calls queued ahead at most K windows (limit >= 1), plus at most one unanswered probe
  (one ``timeout``).

Every call must end within its bound (plus a small slack for scheduling), the server must see
no more than ``calls * (max_retries + 1)`` requests, and the client must work afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ddllmobs_async as dd
from tests.raw_servers import (
    Answer,
    Reply,
    Request,
    Reset,
    Silence,
    Truncated,
    aggregate,
    serving,
)

QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
SLACK = 0.5  # seconds for scheduling on a busy 2-core runner
INITIAL_DELAY = 0.01
MAX_DELAY = 0.05
JITTER = 0.02

LIMITS = ["0", "-1", "1", "2", "5", "1e9", "nan", "inf", "abc", "2.5", ""]
REMAINING = ["0", "1", "3", "-3", "1e30", "nan", "x"]
RESETS = ["0", "0.02", "0.05", "0.1", "0.2", "-1", "9e8", "1e12", "4102444800", "nan", "1e400"]
PERIODS = ["0", "0.1", "1", "60", "-5", "nan", "5e-324", "1e-300", "1e300"]
RETRY_AFTERS = [
    "0",
    "0.05",
    "0.1",
    "1",
    "3600",
    "-1",
    "nan",
    "soon",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "Fri, 01 Jan 2100 00:00:00 GMT",
]

rate_limit_headers = st.fixed_dictionaries(
    {},
    optional={
        "X-RateLimit-Limit": st.sampled_from(LIMITS),
        "X-RateLimit-Remaining": st.sampled_from(REMAINING),
        "X-RateLimit-Reset": st.sampled_from(RESETS),
        "X-RateLimit-Period": st.sampled_from(PERIODS),
    },
)
too_many_headers = st.builds(
    lambda limits, retry_after: {**limits, **retry_after},
    rate_limit_headers,
    st.fixed_dictionaries({}, optional={"Retry-After": st.sampled_from(RETRY_AFTERS)}),
)

answers: st.SearchStrategy[Answer] = st.one_of(
    st.builds(lambda h: Reply(200, aggregate(), h), rate_limit_headers),
    st.builds(lambda h: Reply(429, b'{"errors": ["Too many requests"]}', h), too_many_headers),
    st.builds(
        lambda status, h: Reply(status, b"", h),
        st.sampled_from([500, 502, 503, 504]),
        rate_limit_headers,
    ),
    st.just(Silence()),
    st.just(Reset()),
    st.just(Truncated(body=aggregate()[:20])),
)


@dataclass(frozen=True)
class Scenario:
    """The client's settings, the calls made at once, and the server's answers in order."""

    calls: int
    timeout: float
    max_retries: int
    max_rate_limit_wait: float
    answers: tuple[Answer, ...]

    def policy(self) -> dd.RetryPolicy:
        return dd.RetryPolicy(
            max_retries=self.max_retries,
            initial_delay=INITIAL_DELAY,
            max_delay=MAX_DELAY,
            max_rate_limit_wait=self.max_rate_limit_wait,
            rate_limit_jitter=JITTER,
        )

    def bound(self) -> float:
        """Longest any call may take under the documented guarantees."""
        window = self.max_rate_limit_wait + JITTER
        longest_sleep = max(MAX_DELAY, window)
        at_the_gate = self.calls * window + self.timeout  # K windows queued ahead + one probe
        return (self.max_retries + 1) * (self.timeout + longest_sleep + at_the_gate)


scenarios = st.builds(
    Scenario,
    calls=st.integers(1, 8),
    timeout=st.sampled_from([0.05, 0.1, 0.2]),
    max_retries=st.integers(0, 2),
    max_rate_limit_wait=st.sampled_from([0.05, 0.1, 0.2]),
    answers=st.lists(answers, min_size=1, max_size=12).map(tuple),
)


class ScriptedThenHealthy:
    """The scenario's answers in arrival order; plain 200s once they run out or ``healed``."""

    def __init__(self, script: tuple[Answer, ...]) -> None:
        self.script = list(script)
        self.healed = False
        self.during_calls = 0

    def __call__(self, request: Request) -> Answer:
        if self.healed:
            return Reply(200, aggregate())
        self.during_calls += 1
        return self.script.pop(0) if self.script else Reply(200, aggregate())


async def timed_call(client: dd.LLMObsClient) -> float:
    """Seconds one call took; any error but an ``LLMObsError`` fails the test."""
    started = time.monotonic()
    with contextlib.suppress(dd.LLMObsError):
        await client.aggregate(QUERY)
    return time.monotonic() - started


async def run(scenario: Scenario) -> None:
    server_script = ScriptedThenHealthy(scenario.answers)
    bound = scenario.bound()
    async with serving(server_script, timeout=scenario.timeout, retry_policy=scenario.policy()) as (
        _server,
        client,
    ):
        tasks = [asyncio.ensure_future(timed_call(client)) for _ in range(scenario.calls)]
        try:
            async with asyncio.timeout(bound + SLACK):
                durations = await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert max(durations) <= bound + SLACK, (durations, bound)
        attempts = scenario.calls * (scenario.max_retries + 1)
        assert server_script.during_calls <= attempts, (server_script.during_calls, attempts)

        # usable afterwards: once the server is healthy, a call succeeds within a few windows
        server_script.healed = True
        window = scenario.max_rate_limit_wait + JITTER
        await asyncio.sleep(window)
        # (+1 s: a gate may honour a short hold, e.g. Retry-After: 1, in full before probing)
        async with asyncio.timeout(3 * window + scenario.timeout + SLACK + 1.0):
            while True:
                try:
                    result = await client.aggregate(QUERY)
                except dd.RateLimitError:  # the gate still refuses a reset it was told of
                    await asyncio.sleep(window)
                    continue
                break
        assert result.hit_count == 1


GATEWAY_502 = Reply(502, b"")
WINDOW = Reply(200, aggregate(), {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "2"})


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenarios)
@example(Scenario(20, 0.25, 1, 0.2, (Silence(),) * 40))  # issue 10 point 3: a blackholed host
@example(
    Scenario(  # point 1: a refilled window drained by headerless 502s
        6,
        0.1,
        1,
        0.1,
        (
            Reply(
                200,
                aggregate(),
                {
                    "X-RateLimit-Limit": "2",
                    "X-RateLimit-Reset": "0.02",
                    "X-RateLimit-Remaining": "0",
                },
            ),
            GATEWAY_502,
            GATEWAY_502,
            GATEWAY_502,
        ),
    )
)
@example(
    Scenario(
        4,
        0.1,
        2,
        0.1,
        (
            Reply(
                200,
                aggregate(),
                {
                    "X-RateLimit-Limit": "0",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": "0.02",
                },
            ),
        ),
    )
)
@example(
    Scenario(
        4,
        0.1,
        2,
        0.1,
        (Reply(200, aggregate(), {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9e8"}),),
    )
)
@example(Scenario(8, 0.1, 2, 0.1, (Reply(429, b"", {"Retry-After": "3600"}),)))
def test_every_call_ends_within_its_bound(scenario: Scenario) -> None:
    asyncio.run(run(scenario))
