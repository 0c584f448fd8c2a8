"""Small helpers strategies share."""

from __future__ import annotations

import re

_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+(.+?)\s*$")


def parse_list(text: str, limit: int) -> list[str]:
    """Numbered or bulleted lines of an LLM answer; the whole answer if none."""
    items = [m.group(1) for line in text.splitlines() if (m := _ITEM.match(line))]
    if not items and text.strip():
        items = [text.strip()]
    return items[:limit]
