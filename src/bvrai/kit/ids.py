"""Prefixed, time-sortable identifiers (``agt_01J...``): a ULID after a resource prefix."""

from ulid import ULID


def new_id(prefix: str) -> str:
    return f"{prefix}_{str(ULID()).lower()}"
