"""Sinch provider hooks."""
