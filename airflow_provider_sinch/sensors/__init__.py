"""Sinch provider sensors."""
