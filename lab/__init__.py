"""Offline tools outside the runtime: evaluation harness, adapter tuning, training data."""
