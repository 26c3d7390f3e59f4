"""The VWMP execution engine service; `Engine` runs one replica."""

from vwmp_engine.engine import Engine

__all__ = ["Engine"]
