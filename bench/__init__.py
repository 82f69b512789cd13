"""Benchmarks: targets measured here, never in timed tests (`make bench`)."""
