"""``{{variable}}`` filling for the system prompt and first message."""

from __future__ import annotations

from bvrai.agents.spec import VARIABLE_PATTERN


def fill(template: str, variables: dict[str, str]) -> str:
    """Replace each ``{{name}}`` (the spec's own variable syntax) with its value; a variable the call
    did not supply becomes empty, so a caller never hears template syntax."""
    return VARIABLE_PATTERN.sub(lambda m: str(variables.get(m.group(1), "")), template)
