"""Sinch provider triggers."""
