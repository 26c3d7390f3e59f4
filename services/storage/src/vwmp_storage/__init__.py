"""VWMP storage service: every durable fact of the platform behind one gRPC API."""
