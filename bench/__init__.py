"""Benchmarks: each writes JSON results under ``bench/results/`` and prints a summary table."""
