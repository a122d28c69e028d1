"""Imports every ORM model so ``Base.metadata`` is complete (Alembic and test schemas use it)."""

from bvrai.agents.models import Agent, AgentVersion
from bvrai.analysis.models import CallAnalysis
from bvrai.audit.models import AuditLog
from bvrai.calls.models import Call, CallEvent, CallMessage
from bvrai.campaigns.models import Campaign, CampaignAttempt, CampaignContact, DoNotCallEntry
from bvrai.identity.models import ApiKey, Credential, Invitation, Membership, Organization, RefreshToken, User
from bvrai.kit.db import Base
from bvrai.kit.jobs_models import Job
from bvrai.knowledge.models import KnowledgeBase, KnowledgeDocument
from bvrai.telephony.models import PhoneNumber
from bvrai.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

__all__ = [
    "Agent",
    "AgentVersion",
    "ApiKey",
    "AuditLog",
    "Base",
    "Call",
    "CallAnalysis",
    "CallEvent",
    "CallMessage",
    "Campaign",
    "CampaignAttempt",
    "CampaignContact",
    "Credential",
    "DoNotCallEntry",
    "Invitation",
    "Job",
    "KnowledgeBase",
    "KnowledgeDocument",
    "Membership",
    "Organization",
    "PhoneNumber",
    "RefreshToken",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
]
