"""The `vwmp` command line."""
