"""What an export did (no pyarrow needed, so the CLI can name it without the extra)."""

from __future__ import annotations

import attrs


@attrs.frozen
class ExportSummary:
    """What one call of :func:`export_experiments` or :func:`export_experiment_events` did.

    Counts are this call's: an export resumed from its checkpoint counts only what it added.
    Built positionally in this order, ``ExportSummary(rows, files, pages, seconds,
    resumed_from)``, or by keyword.

    Attributes:
        rows: Rows written (experiments, or spans for an events export).
        files: Parquet files written (for events: span, eval and summary-metric files).
        pages: Pages fetched and written.
        seconds: Wall-clock duration of the call.
        resumed_from: The checkpoint cursor this call continued from; ``None`` when it
            started from the beginning or the export was already complete.
    """

    rows: int
    files: int
    pages: int
    seconds: float
    resumed_from: str | None = None
