"""`python -m vwmp_gateway.openapi [FILE]`: the gateway's OpenAPI document, without starting anything.

The designer's `schema.d.ts` is generated from this (`npm run gen:api`), and a test regenerates it to
catch a stale copy, so the document must depend on the code alone: no settings, no mounted designer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from vwmp_gateway.app import create_app
from vwmp_gateway.settings import GatewaySettings


def document() -> dict[str, Any]:
    """The OpenAPI document as the app serves it at /openapi.json."""
    return create_app(GatewaySettings(frontend_dir=None)).openapi()


def render() -> str:
    """The document as stable JSON text (same code, same bytes)."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    """Write the document to the file named in `argv`, or to stdout."""
    text = render()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
