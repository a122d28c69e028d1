"""``{{variable}}`` filling for the system prompt and first message."""

from __future__ import annotations

import re

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def fill(template: str, variables: dict[str, str]) -> str:
    """Replace each ``{{name}}`` with its value; a variable the call did not supply becomes empty,
    so a caller never hears template syntax."""
    return _VARIABLE.sub(lambda m: str(variables.get(m.group(1), "")), template)
