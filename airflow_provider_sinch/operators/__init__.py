"""Sinch provider operators."""
