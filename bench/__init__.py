"""Benchmarks: each module is runnable (``python -m bench.<name>``) and prints a JSON line of its figures last."""
