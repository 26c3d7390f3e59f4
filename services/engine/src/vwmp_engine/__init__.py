"""The VWMP execution engine service."""
