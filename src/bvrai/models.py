"""Imports every ORM model so ``Base.metadata`` is complete (Alembic and test schemas use it)."""

from bvrai.audit.models import AuditLog
from bvrai.identity.models import ApiKey, Credential, Invitation, Membership, Organization, RefreshToken, User
from bvrai.kit.db import Base

__all__ = [
    "ApiKey",
    "AuditLog",
    "Base",
    "Credential",
    "Invitation",
    "Membership",
    "Organization",
    "RefreshToken",
    "User",
]
