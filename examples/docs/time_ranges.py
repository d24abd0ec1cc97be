"""Time windows for aggregate queries."""

from datetime import datetime, timedelta, timezone

from ddllmobs_async import AggregateQuery, LLMObsClient, TimeRange


# --8<-- [start:ranges]
def windows(anchor: datetime) -> dict[str, TimeRange]:
    return {
        # Aware datetimes (a naive one raises ValueError).
        "july": TimeRange(
            start=datetime(2026, 7, 1, tzinfo=timezone.utc),
            end=datetime(2026, 8, 1, tzinfo=timezone.utc),
        ),
        # Epoch milliseconds, sent as they are.
        "july_ms": TimeRange(start=1_782_864_000_000, end=1_785_542_400_000),
        # The last 24 hours, ending now.
        "last_day": TimeRange.last(timedelta(hours=24)),
        # Six hours ending at a given moment.
        "before_anchor": TimeRange.last(timedelta(hours=6), now=anchor),
    }


# --8<-- [end:ranges]


async def main(client: LLMObsClient, anchor: datetime) -> dict[str, int]:
    """Number of eval events in each window."""
    hits = {}
    for label, window in windows(anchor).items():
        query = AggregateQuery(["score_value"], ["experiment-evals"], "*", time=window)
        hits[label] = (await client.aggregate(query)).hit_count
    return hits
