"""VWMP plugin host: serves every installed plugin (entry point group `vwmp.plugins`)."""
