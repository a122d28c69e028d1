"""Who is calling: a user acting in one org (JWT) or an org's API key, with what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from bvrai.audit.service import Actor
from bvrai.kit.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    org_id: str
    role: str
    permissions: frozenset[str]
    user_id: str | None = None
    api_key_id: str | None = None
    ip: str | None = None

    @property
    def actor(self) -> Actor:
        if self.api_key_id:
            return Actor(org_id=self.org_id, actor_type="api_key", actor_id=self.api_key_id, ip=self.ip)
        return Actor(org_id=self.org_id, actor_type="user", actor_id=self.user_id, ip=self.ip)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def ensure(self, permission: str) -> None:
        if not self.can(permission):
            how = "API key lacks the scope" if self.api_key_id else f"role '{self.role}' lacks the permission"
            raise Forbidden(f"{how} '{permission}'")
