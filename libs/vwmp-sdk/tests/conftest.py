from vwmp_common.testing import nats_server  # noqa: F401  (the fixture: a real NATS server)
