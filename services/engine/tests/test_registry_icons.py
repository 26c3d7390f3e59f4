"""A host's announced icon reaches the palette only when the designer can show it without loading anything."""

from __future__ import annotations

from vwmp_common.icons import glyph
from vwmp_engine.registry import StepTypeRegistry


def test_an_announced_icon_is_kept_and_a_remote_one_dropped() -> None:
    registry = StepTypeRegistry()
    good = glyph("M3 3h18v18H3z", "#2563eb")
    registry.apply("host-a", b'{"address": "127.0.0.1:1", "step_types": ['
                             b'{"type": "acme/tag", "icon": "' + good.encode() + b'"},'
                             b'{"type": "acme/ship", "icon": "https://tracker.example/pixel.svg"},'
                             b'{"type": "acme/plain"}]}')
    icons = {info.type: info.icon for info in registry.all() if info.type.startswith("acme/")}
    assert icons == {"acme/tag": good, "acme/ship": "", "acme/plain": ""}
