"""One module per contender; each runs as ``python -m bench.contenders.NAME``."""
