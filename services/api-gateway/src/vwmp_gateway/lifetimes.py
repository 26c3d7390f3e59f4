"""Token lifetimes: seconds, or a number with a unit (30m, 12h, 90d), from 1 second up to 10 years.

The bound is written into the pattern itself (an exact regex of 1..N per unit), so the OpenAPI
document refuses what the gateway refuses and a generated client can check a lifetime before sending.
"""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_LIFETIME = 10 * 365 * 86400


def up_to(limit: int) -> str:
    """A regex of the integers 1..limit, written without leading zeros."""
    digits = str(limit)
    choices = ["[1-9]" + (f"[0-9]{{{width - 1}}}" if width > 1 else "") for width in range(1, len(digits))]
    for index, digit in enumerate(digits):
        lowest, highest = (1 if index == 0 else 0), int(digit) - 1
        if highest >= lowest:
            rest = len(digits) - index - 1
            choices.append(digits[:index] + f"[{lowest}-{highest}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    choices.append(digits)
    return "(?:" + "|".join(choices) + ")"


LIFETIME_PATTERN = "^(?:" + "|".join(
    up_to(MAX_LIFETIME // seconds) + (f"{unit}?" if unit == "s" else unit) for unit, seconds in UNITS.items()
) + ")$"
_LIFETIME = re.compile(LIFETIME_PATTERN)


def lifetime_seconds(value: int | str) -> int | None:
    """The seconds a lifetime stands for, or None when it is not one (or not between 1 s and 10 years)."""
    if isinstance(value, int):
        return value if 0 < value <= MAX_LIFETIME else None
    if not _LIFETIME.match(value):
        return None
    unit = value[-1] if value[-1] in UNITS else "s"
    return int(value.rstrip("smhdw")) * UNITS[unit]
