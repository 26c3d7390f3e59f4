"""VWMP API gateway."""
