"""Wiring: the kopf handlers, metrics and health endpoints, and `run()`, which builds the operator and serves it."""
