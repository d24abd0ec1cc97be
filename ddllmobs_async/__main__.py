"""``python -m ddllmobs_async``: the ``ddllmobs`` command line."""

from ddllmobs_async.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
