"""Messengers that need no platform: the console (``demo``, development) and recorders (tests,
multi-process scenarios)."""
