"""Benchmarks on the local stack (``make bench``); not shipped in any Lambda."""
