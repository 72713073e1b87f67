"""Runs nobody typed: a canvas started by a webhook (``webhook.py``) or on a schedule
(``schedule.py``). Both start an ordinary prediction, recorded as every run is."""
