"""Benchmarks: standalone scripts, and the ``semsearch bench`` harness in ``harness/``."""
