"""Benchmarks: measured and printed next to their baselines, never asserted in tests.

``python -m bench`` runs everything; see ``docs/benchmarks.md`` for the figures and how to read
them.
"""
