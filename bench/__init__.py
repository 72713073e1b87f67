"""Benchmarks of canvasflow's streaming path against its ceiling. ``python -m bench``."""
