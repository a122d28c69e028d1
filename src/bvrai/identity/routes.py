"""Organization, members, invitations, API keys and credentials routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from bvrai.identity import api_key_service, credential_service, invitation_service, org_service
from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.identity.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    CredentialIn,
    CredentialOut,
    CredentialUpdate,
    InvitationCreated,
    InvitationIn,
    InvitationOut,
    MemberOut,
    MemberUpdate,
    OrganizationOut,
    OrganizationUpdate,
)
from bvrai.identity.signing import org_signing_secret
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import problem_responses
from bvrai.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/v1")
Pages = Annotated[PageParams, Depends(page_params)]
ResourceId = Annotated[str, Path(max_length=64)]
READ = problem_responses(401, 403, 404, 422, 429)
WRITE = problem_responses(401, 403, 404, 409, 422, 429)


@router.get("/organization", response_model=OrganizationOut, tags=["organization"], responses=READ)
async def get_organization(
    principal: Annotated[Principal, Depends(require("organization:read"))], session: Session
) -> OrganizationOut:
    return OrganizationOut.model_validate(await org_service.get_organization(session, principal=principal))


@router.patch("/organization", response_model=OrganizationOut, tags=["organization"], responses=WRITE)
async def update_organization(
    data: OrganizationUpdate, principal: Annotated[Principal, Depends(require("organization:write"))], session: Session
) -> OrganizationOut:
    org = await org_service.update_organization(session, principal=principal, name=data.name)
    return OrganizationOut.model_validate(org)


class SigningSecretOut(BaseModel):
    secret: str = Field(description="Verify BVRAI's requests to your tools with it (Standard Webhooks)")


@router.get("/organization/signing-secret", response_model=SigningSecretOut, tags=["organization"], responses=READ)
async def get_signing_secret(
    ctx: Ctx, principal: Annotated[Principal, Depends(require("organization:write"))]
) -> SigningSecretOut:
    """The secret that signs every request BVRAI sends to your custom tools (admins only)."""
    return SigningSecretOut(secret=org_signing_secret(ctx.secret_key, principal.org_id))


@router.get("/members", response_model=Page[MemberOut], tags=["members"], responses=READ)
async def list_members(
    principal: Annotated[Principal, Depends(require("members:read"))], session: Session, pages: Pages
) -> Page[MemberOut]:
    rows, cursor = await org_service.list_members(session, principal=principal, params=pages)
    return Page(data=rows, next_cursor=cursor)


@router.get("/members/{member_id}", response_model=MemberOut, tags=["members"], responses=READ)
async def get_member(
    member_id: ResourceId, principal: Annotated[Principal, Depends(require("members:read"))], session: Session
) -> MemberOut:
    return await org_service.get_member(session, principal=principal, membership_id=member_id)


@router.patch("/members/{member_id}", response_model=MemberOut, tags=["members"], responses=WRITE)
async def update_member(
    member_id: ResourceId,
    data: MemberUpdate,
    principal: Annotated[Principal, Depends(require("members:write"))],
    session: Session,
) -> MemberOut:
    return await org_service.change_role(session, principal=principal, membership_id=member_id, role=data.role)


@router.delete("/members/{member_id}", status_code=204, tags=["members"], responses=WRITE)
async def remove_member(
    member_id: ResourceId, principal: Annotated[Principal, Depends(require("members:write"))], session: Session
) -> Response:
    await org_service.remove_member(session, principal=principal, membership_id=member_id)
    return Response(status_code=204)


@router.post("/invitations", response_model=InvitationCreated, status_code=201, tags=["invitations"], responses=WRITE)
async def create_invitation(
    data: InvitationIn,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require("invitations:write"))],
    session: Session,
) -> InvitationCreated:
    return await invitation_service.invite(session, ctx=ctx, principal=principal, data=data)


@router.get("/invitations", response_model=Page[InvitationOut], tags=["invitations"], responses=READ)
async def list_invitations(
    principal: Annotated[Principal, Depends(require("invitations:read"))], session: Session, pages: Pages
) -> Page[InvitationOut]:
    rows, cursor = await invitation_service.list_invitations(session, principal=principal, params=pages)
    return Page(data=[InvitationOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/invitations/{invitation_id}", response_model=InvitationOut, tags=["invitations"], responses=READ)
async def get_invitation(
    invitation_id: ResourceId, principal: Annotated[Principal, Depends(require("invitations:read"))], session: Session
) -> InvitationOut:
    inv = await invitation_service.get_invitation(session, principal=principal, invitation_id=invitation_id)
    return InvitationOut.model_validate(inv)


@router.delete("/invitations/{invitation_id}", status_code=204, tags=["invitations"], responses=WRITE)
async def revoke_invitation(
    invitation_id: ResourceId, principal: Annotated[Principal, Depends(require("invitations:write"))], session: Session
) -> Response:
    await invitation_service.revoke_invitation(session, principal=principal, invitation_id=invitation_id)
    return Response(status_code=204)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, tags=["api-keys"], responses=WRITE)
async def create_api_key(
    data: ApiKeyIn, ctx: Ctx, principal: Annotated[Principal, Depends(require("api_keys:write"))], session: Session
) -> ApiKeyCreated:
    """Create an API key. The key is in this response only; store it now."""
    return await api_key_service.create_api_key(
        session, ctx=ctx, principal=principal, name=data.name, scopes=data.scopes, expires_at=data.expires_at
    )


@router.get("/api-keys", response_model=Page[ApiKeyOut], tags=["api-keys"], responses=READ)
async def list_api_keys(
    principal: Annotated[Principal, Depends(require("api_keys:read"))], session: Session, pages: Pages
) -> Page[ApiKeyOut]:
    rows, cursor = await api_key_service.list_api_keys(session, principal=principal, params=pages)
    return Page(data=[ApiKeyOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/api-keys/{key_id}", response_model=ApiKeyOut, tags=["api-keys"], responses=READ)
async def get_api_key(
    key_id: ResourceId, principal: Annotated[Principal, Depends(require("api_keys:read"))], session: Session
) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await api_key_service.get_api_key(session, principal=principal, key_id=key_id))


@router.delete("/api-keys/{key_id}", status_code=204, tags=["api-keys"], responses=WRITE)
async def revoke_api_key(
    key_id: ResourceId, principal: Annotated[Principal, Depends(require("api_keys:write"))], session: Session
) -> Response:
    await api_key_service.revoke_api_key(session, principal=principal, key_id=key_id)
    return Response(status_code=204)


@router.post("/credentials", response_model=CredentialOut, status_code=201, tags=["credentials"], responses=WRITE)
async def create_credential(
    data: CredentialIn,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require("credentials:write"))],
    session: Session,
) -> CredentialOut:
    """Store a provider secret, encrypted. Only a masked hint is ever returned."""
    cred = await credential_service.create_credential(
        session,
        ctx=ctx,
        principal=principal,
        provider=data.provider,
        name=data.name,
        secret=data.secret,
        extra=data.extra,
    )
    return CredentialOut.model_validate(cred)


@router.get("/credentials", response_model=Page[CredentialOut], tags=["credentials"], responses=READ)
async def list_credentials(
    principal: Annotated[Principal, Depends(require("credentials:read"))], session: Session, pages: Pages
) -> Page[CredentialOut]:
    rows, cursor = await credential_service.list_credentials(session, principal=principal, params=pages)
    return Page(data=[CredentialOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/credentials/{credential_id}", response_model=CredentialOut, tags=["credentials"], responses=READ)
async def get_credential(
    credential_id: ResourceId, principal: Annotated[Principal, Depends(require("credentials:read"))], session: Session
) -> CredentialOut:
    cred = await credential_service.get_credential(session, principal=principal, credential_id=credential_id)
    return CredentialOut.model_validate(cred)


@router.patch("/credentials/{credential_id}", response_model=CredentialOut, tags=["credentials"], responses=WRITE)
async def update_credential(
    credential_id: ResourceId,
    data: CredentialUpdate,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require("credentials:write"))],
    session: Session,
) -> CredentialOut:
    cred = await credential_service.update_credential(
        session, ctx=ctx, principal=principal, credential_id=credential_id, name=data.name, secret=data.secret
    )
    return CredentialOut.model_validate(cred)


@router.delete("/credentials/{credential_id}", status_code=204, tags=["credentials"], responses=WRITE)
async def delete_credential(
    credential_id: ResourceId, principal: Annotated[Principal, Depends(require("credentials:write"))], session: Session
) -> Response:
    await credential_service.delete_credential(session, principal=principal, credential_id=credential_id)
    return Response(status_code=204)
