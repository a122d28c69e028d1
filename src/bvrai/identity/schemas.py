from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from bvrai.identity.permissions import ALL_PERMISSIONS, Role

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Password = Annotated[str, Field(min_length=10, max_length=256, description="At least 10 characters")]
Email = Annotated[EmailStr, AfterValidator(lambda v: v.lower())]


def _check_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - ALL_PERMISSIONS)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)}")
    return sorted(set(scopes))


Scopes = Annotated[list[Annotated[str, Field(max_length=64)]], AfterValidator(_check_scopes)]


class SignupIn(BaseModel):
    email: Email
    password: Password
    name: Name
    organization_name: Name


class LoginIn(BaseModel):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=256)]
    organization_id: Annotated[str | None, Field(max_length=40)] = None


class RefreshIn(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime
    updated_at: datetime


class OrganizationUpdate(BaseModel):
    name: Name


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    name: str
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_token: str
    user: UserOut
    organization: OrganizationOut
    role: Role


class MembershipSummary(BaseModel):
    membership_id: str
    organization: OrganizationOut
    role: Role


class MeOut(BaseModel):
    user: UserOut
    organization_id: str
    role: str
    permissions: list[str]
    memberships: list[MembershipSummary]


class MeUpdate(BaseModel):
    name: Name


class MemberOut(BaseModel):
    id: str
    user: UserOut
    role: Role
    created_at: datetime


class MemberUpdate(BaseModel):
    role: Role


class InvitationIn(BaseModel):
    email: Email
    role: Role = Role.MEMBER


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    role: Role
    expires_at: datetime
    created_at: datetime


class InvitationCreated(InvitationOut):
    token: str = Field(description="Shown once: the invitee accepts with it")


class InvitationAcceptIn(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    password: Password
    name: Name | None = None


class ApiKeyIn(BaseModel):
    name: Name
    scopes: Scopes | None = Field(default=None, description="Defaults to every permission of the creator")
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    display_prefix: str
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="Shown once; only a keyed hash is stored")


class CredentialIn(BaseModel):
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_\-]{1,50}$")]
    name: Name
    secret: Annotated[str, Field(min_length=1, max_length=8192)]
    extra: dict[str, Any] = Field(default_factory=dict, description="Non-secret settings, e.g. account id")


class CredentialUpdate(BaseModel):
    name: Name | None = None
    secret: Annotated[str | None, Field(min_length=1, max_length=8192)] = None


class CredentialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    provider: str
    name: str
    hint: str = Field(description="The last characters of the secret; the secret itself is never returned")
    extra: dict[str, Any]
    created_at: datetime
    updated_at: datetime
