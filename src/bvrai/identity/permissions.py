"""Roles and the permissions each one grants; API key scopes are drawn from the same names.

A permission is ``<resource>:read`` or ``<resource>:write``. Routes declare the one they need with
``require("agents:write")``; a principal passes when its role (for a user) or its scopes (for an API
key) include it.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


RESOURCES = (
    "organization",
    "members",
    "invitations",
    "api_keys",
    "credentials",
    "agents",
    "calls",
    "phone_numbers",
    "knowledge_bases",
    "webhooks",
    "campaigns",
    "analytics",
    "billing",
    "audit_logs",
)

ALL_PERMISSIONS = frozenset(f"{r}:{a}" for r in RESOURCES for a in ("read", "write"))

_BUILDER_RESOURCES = ("agents", "calls", "phone_numbers", "knowledge_bases", "webhooks", "campaigns")

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: ALL_PERMISSIONS,
    # Admins run the org but cannot change billing.
    Role.ADMIN: ALL_PERMISSIONS - {"billing:write"},
    # Members build and operate agents; they cannot manage people, secrets or the audit trail.
    Role.MEMBER: frozenset(
        {f"{r}:{a}" for r in _BUILDER_RESOURCES for a in ("read", "write")}
        | {"organization:read", "members:read", "analytics:read", "credentials:read", "api_keys:read", "api_keys:write"}
    ),
    Role.VIEWER: frozenset(
        {f"{r}:read" for r in _BUILDER_RESOURCES} | {"organization:read", "members:read", "analytics:read"}
    ),
}


def permissions_for(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(Role(role), frozenset()) if role in Role.__members__.values() else frozenset()


def role_rank(role: str) -> int:
    return [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER].index(Role(role))
