"""Every benchmark scenario, in the order of ``docs/performance.md``.

To add one (e.g. the Parquet export of issue 14): a module with ``cases(plan) -> list[Case]``
and ``report(plan, cases) -> list[Section]``, a ``Scenario`` listed here; contenders gain the
workload the cases name (``bench/contenders/*.py``) and, if it needs new routes or pages, the
fake server (``bench/server.py``) serves them.
"""

from __future__ import annotations

from bench._scenario import Scenario
from bench.scenarios import (
    batch,
    client_cpu,
    events,
    export,
    latency,
    plain,
    ratelimited,
    stall,
)

SCENARIOS: list[Scenario] = [
    *client_cpu.SCENARIOS,
    ratelimited.SCENARIO,
    stall.SCENARIO,
    latency.SCENARIO,
    batch.SCENARIO,
    plain.SCENARIO,
    events.SCENARIO,
    export.SCENARIO,
]
