"""Metrics, structured logs and traces: what operators see of a running server."""
