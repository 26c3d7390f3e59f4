"""The node icon a plugin declares for its step types, checked where it is declared (the SDK) and where
it is announced (the engine): the designer shows it without loading anything from elsewhere."""

from __future__ import annotations

import base64
import re

ICON_LIMIT = 8192
_EMOJI_LIMIT = 16  # characters: an emoji with its modifiers and joiners
_DATA_ICON = re.compile(r"^data:image/(svg\+xml|png)(;base64)?,")


def check_icon(icon: str, owner: str) -> str:
    """An icon the designer can show without loading anything: an emoji or a small data: image URI."""
    if not icon or (len(icon) <= _EMOJI_LIMIT and not icon.isascii() and not any(c.isspace() for c in icon)):
        return icon
    if len(icon) <= ICON_LIMIT and _DATA_ICON.match(icon):
        return icon
    raise ValueError(f"{owner}: icon must be an emoji or a data:image/svg+xml or data:image/png URI of at most "
                     f"{ICON_LIMIT} bytes, not {icon[:40]!r}")


def svg_icon(svg: str) -> str:
    """An inline SVG as the data: URI an icon is (`Plugin("acme", icon=svg_icon("<svg ...>...</svg>"))`)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.strip().encode()).decode()


def glyph(path: str, colour: str) -> str:
    """A 24x24 line icon of one SVG path in one colour: the built-in plugins' icons."""
    return svg_icon(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="{colour}" '
                    f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="{path}"/></svg>')
