"""The hash that links each audit row to the one before it in its organization.

``hash = SHA-256(prev_hash || canonical JSON of the row's recorded fields)``. Changing any recorded
field of a row, deleting a row or inserting one breaks either that row's hash or the next row's
``prev_hash`` link, which ``verify`` reports by row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bvrai.audit.models import AuditLog

GENESIS = "0" * 64


def row_digest(row: AuditLog) -> str:
    payload: dict[str, Any] = {
        "id": row.id,
        "org_id": row.org_id,
        "seq": row.seq,
        "created_at": row.created_at.isoformat(timespec="microseconds"),
        "actor_type": row.actor_type,
        "actor_id": row.actor_id,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "changes": row.changes,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((row.prev_hash + canonical).encode()).hexdigest()
