"""Attacks on turn for test_abuse.py: CONFIG (overrides for the node) and CHECKS, a list of
(name, fn(ctx)); see test_abuse.py for ctx."""

CONFIG = {}
CHECKS = []
