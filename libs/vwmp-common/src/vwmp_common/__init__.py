"""Shared building blocks of the VWMP services."""
