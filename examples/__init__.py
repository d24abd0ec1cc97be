"""Runnable examples of ddllmobs_async (each is also exercised by tests/test_examples.py)."""
