"""Evaluations: datasets of questions, evaluators that judge answers, and runs of a
canvas's versions over a dataset (issue 36)."""
