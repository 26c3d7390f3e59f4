"""The Kanban board: a YAML file in the repo (default `kanban.yaml`).

```yaml
columns:
  - name: Done
    cards:
      - id: KAN-7
        title: Sync the board on release
```
Moving a card keeps the file's comments, order and quoting (ruamel.yaml round trip) and records the
release on the card (`released_in: X.Y.Z`).
"""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

CARD_ID = re.compile(r"\b[A-Z][A-Z0-9]+-\d+\b")


class BoardError(ValueError):
    """The board file is not a board (`columns: [{name, cards: [{id, title}]}]`)."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def card_ids(text: str) -> list[str]:
    """Card ids (`KAN-7`) named in a text, in order, without repeats."""
    return list(dict.fromkeys(CARD_ID.findall(text)))


def _columns(board: Any) -> list[Any]:
    if not isinstance(board, dict) or not isinstance(board.get("columns"), list):
        raise BoardError("the board must be a mapping with a 'columns' list")
    for i, column in enumerate(board["columns"]):
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            raise BoardError(f"columns[{i}] must have a 'name'")
        cards = column.get("cards")
        if cards is None:
            continue
        if not isinstance(cards, list) or any(not isinstance(c, dict) or "id" not in c for c in cards):
            raise BoardError(f"columns[{i}].cards must be a list of cards with an 'id'")
    columns: list[Any] = board["columns"]
    return columns


def move_cards(text: str, ids: list[str], from_column: str, to_column: str, version: str) -> tuple[str, list[str]]:
    """Move the cards `ids` found in `from_column` to the end of `to_column` (created when missing).

    Returns:
        (new board text, ids moved); cards already in `to_column` or not on the board are left alone.
    """
    yaml = _yaml()
    try:
        board = yaml.load(text)
    except YAMLError as exc:
        raise BoardError(f"not valid YAML: {exc}") from None
    columns = _columns(board)
    source = next((c for c in columns if c["name"] == from_column), None)
    if source is None or not source.get("cards"):
        return text, []
    target = next((c for c in columns if c["name"] == to_column), None)
    moving = [card for card in source["cards"] if str(card["id"]) in ids]
    if not moving:
        return text, []
    if target is None:
        target = {"name": to_column, "cards": []}
        columns.append(target)
    if target.get("cards") is None:
        target["cards"] = []
    for card in moving:
        source["cards"].remove(card)
        card["released_in"] = version
        target["cards"].append(card)
    out = io.StringIO()
    yaml.dump(board, out)
    return out.getvalue(), [str(card["id"]) for card in moving]
