"""Benchmarks: measurements of the runtime packages, kept out of them (python -m bench.<name>)."""
