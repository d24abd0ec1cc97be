"""Benchmark harness for ddllmobs_async (run with ``nox -s bench``)."""
