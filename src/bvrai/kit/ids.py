"""Prefixed, time-sortable identifiers (``agt_01J...``): a ULID after a resource prefix."""

from datetime import datetime

from ulid import ULID


def new_id(prefix: str) -> str:
    return f"{prefix}_{str(ULID()).lower()}"


def id_floor(prefix: str, at: datetime) -> str:
    """The smallest id made at ``at`` or later: ``id >= id_floor(p, t)`` selects rows created since ``t``
    through the primary key or an index ending in the id, without a timestamp index."""
    millis = int(at.timestamp() * 1000)
    return f"{prefix}_{str(ULID.from_bytes(millis.to_bytes(6, 'big') + bytes(10))).lower()}"
