"""Reconciliation: finding casualty figures that contradict each other (API.md §6)."""
