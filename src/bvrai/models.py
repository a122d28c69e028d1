"""Imports every ORM model so ``Base.metadata`` is complete (Alembic and test schemas use it)."""

from bvrai.agents.models import Agent, AgentVersion
from bvrai.audit.models import AuditLog
from bvrai.calls.models import Call, CallEvent, CallMessage
from bvrai.identity.models import ApiKey, Credential, Invitation, Membership, Organization, RefreshToken, User
from bvrai.kit.db import Base
from bvrai.kit.jobs_models import Job
from bvrai.knowledge.models import KnowledgeBase, KnowledgeDocument
from bvrai.telephony.models import PhoneNumber

__all__ = [
    "Agent",
    "AgentVersion",
    "ApiKey",
    "AuditLog",
    "Base",
    "Call",
    "CallEvent",
    "CallMessage",
    "Credential",
    "Invitation",
    "Job",
    "KnowledgeBase",
    "KnowledgeDocument",
    "Membership",
    "Organization",
    "PhoneNumber",
    "RefreshToken",
    "User",
]
