"""Organization settings: API keys (the secret shown once), team and invitations, the credentials
vault (secrets are write-only), and the audit log with its chain verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from bvrai.audit import service as audit
from bvrai.identity import api_key_service, credential_service, invitation_service, org_service
from bvrai.identity.permissions import Role
from bvrai.identity.principal import Principal
from bvrai.identity.schemas import ApiKeyIn, CredentialIn, InvitationIn
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import BadRequest, Problem
from bvrai.kit.pagination import PageParams
from bvrai.web.forms import FormErrors, problem_errors, read_form, validate
from bvrai.web.rendering import fragment, render
from bvrai.web.session import CurrentUser, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
ItemId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
KEY_SCOPE_PRESETS = {
    "all": ("Every permission you have", None),
    "read": ("Read only", "read"),
    "calls": ("Start and read calls", "calls"),
}


# --- API keys --------------------------------------------------------------------------------------------------


async def _keys_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: FormErrors,
    values: dict[str, str],
    created: object | None = None,
    status_code: int = 200,
) -> Response:
    principal.ensure("api_keys:read")
    rows, _ = await api_key_service.list_api_keys(session, principal=principal, params=PageParams(limit=100))
    context = {
        "keys": rows,
        "errors": errors,
        "values": values,
        "created": created,
        "presets": KEY_SCOPE_PRESETS,
        "can_write": principal.can("api_keys:write"),
    }
    return await render(
        request,
        "settings/api_keys.html",
        context,
        session=session,
        principal=principal,
        section="api_keys",
        status_code=status_code,
    )


@router.get("/app/api-keys")
async def api_keys(request: Request, principal: CurrentUser, session: Session) -> Response:
    return await _keys_page(request, session, principal, errors=FormErrors(), values={})


def _scopes(principal: Principal, preset: str) -> list[str] | None:
    if preset == "read":
        return sorted(p for p in principal.permissions if p.endswith(":read"))
    if preset == "calls":
        wanted = {"calls:read", "calls:write", "agents:read"}
        return sorted(wanted & principal.permissions)
    return None


@router.post("/app/api-keys")
async def create_api_key(request: Request, ctx: Ctx, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("api_keys:write")
    form = await read_form(request)
    values = {"name": form.get("name", ""), "preset": form.get("preset", "all")}
    preset = values["preset"] if values["preset"] in KEY_SCOPE_PRESETS else "all"
    data, errors = validate(
        ApiKeyIn, {"name": values["name"], "scopes": _scopes(principal, preset)}, {"name", "scopes"}
    )
    created = None
    if data is not None:
        try:
            created = await api_key_service.create_api_key(
                session, ctx=ctx, principal=principal, name=data.name, scopes=data.scopes, expires_at=None
            )
        except Problem as exc:
            errors = problem_errors(exc, {"name", "scopes"})
        else:
            values = {}
    status = 422 if errors else 201
    return await _keys_page(
        request, session, principal, errors=errors, values=values, created=created, status_code=status
    )


@router.post("/app/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: ItemId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("api_keys:write")
    await api_key_service.revoke_api_key(session, principal=principal, key_id=key_id)
    return RedirectResponse("/app/api-keys", status_code=303)


# --- team ------------------------------------------------------------------------------------------------------


async def _team_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: FormErrors,
    values: dict[str, str],
    invited: object | None = None,
    status_code: int = 200,
) -> Response:
    principal.ensure("members:read")
    members, _ = await org_service.list_members(session, principal=principal, params=PageParams(limit=100))
    invitations: list[Any] = []
    if principal.can("invitations:read"):
        invitations, _ = await invitation_service.list_invitations(
            session, principal=principal, params=PageParams(limit=100)
        )
    context = {
        "members": members,
        "invitations": [i for i in invitations if i.accepted_at is None and i.revoked_at is None],
        "roles": [r.value for r in Role],
        "errors": errors,
        "values": values,
        "invited": invited,
        "can_manage": principal.can("members:write"),
        "can_invite": principal.can("invitations:write"),
        "me_id": principal.user_id,
    }
    return await render(
        request,
        "settings/team.html",
        context,
        session=session,
        principal=principal,
        section="team",
        status_code=status_code,
    )


@router.get("/app/team")
async def team(request: Request, principal: CurrentUser, session: Session) -> Response:
    return await _team_page(request, session, principal, errors=FormErrors(), values={})


@router.post("/app/team/invitations")
async def invite(request: Request, ctx: Ctx, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("invitations:write")
    form = await read_form(request)
    values = {"email": form.get("email", ""), "role": form.get("role", "member")}
    data, errors = validate(InvitationIn, values, {"email", "role"})
    invited = None
    if data is not None:
        try:
            invited = await invitation_service.invite(session, ctx=ctx, principal=principal, data=data)
        except Problem as exc:
            errors = problem_errors(exc, {"email", "role"})
        else:
            values = {}
    status = 422 if errors else 201
    return await _team_page(
        request, session, principal, errors=errors, values=values, invited=invited, status_code=status
    )


@router.post("/app/team/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    request: Request, invitation_id: ItemId, principal: CurrentUser, session: Session
) -> Response:
    principal.ensure("invitations:write")
    await invitation_service.revoke_invitation(session, principal=principal, invitation_id=invitation_id)
    return RedirectResponse("/app/team", status_code=303)


@router.post("/app/team/members/{membership_id}/role")
async def change_role(request: Request, membership_id: ItemId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("members:write")
    role = (await read_form(request)).get("role", "")
    if role not in Role.__members__.values():
        raise BadRequest("choose one of the roles")
    await org_service.change_role(session, principal=principal, membership_id=membership_id, role=Role(role))
    return RedirectResponse("/app/team", status_code=303)


@router.post("/app/team/members/{membership_id}/remove")
async def remove_member(request: Request, membership_id: ItemId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("members:write")
    await org_service.remove_member(session, principal=principal, membership_id=membership_id)
    return RedirectResponse("/app/team", status_code=303)


# --- credentials -----------------------------------------------------------------------------------------------

CREDENTIAL_FIELDS = {"provider", "name", "secret"}


async def _credentials_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: FormErrors,
    values: dict[str, str],
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    principal.ensure("credentials:read")
    rows, _ = await credential_service.list_credentials(session, principal=principal, params=PageParams(limit=100))
    context = {
        "credentials": rows,
        "errors": errors,
        "values": values,
        "notice": notice,
        "can_write": principal.can("credentials:write"),
        "providers": ("openai", "anthropic", "deepgram", "elevenlabs", "cartesia", "twilio", "telnyx", "custom"),
    }
    return await render(
        request,
        "settings/credentials.html",
        context,
        session=session,
        principal=principal,
        section="credentials",
        status_code=status_code,
    )


@router.get("/app/credentials")
async def credentials(request: Request, principal: CurrentUser, session: Session) -> Response:
    return await _credentials_page(request, session, principal, errors=FormErrors(), values={})


@router.post("/app/credentials")
async def create_credential(request: Request, ctx: Ctx, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("credentials:write")
    form = await read_form(request)
    values = {"provider": form.get("provider", "").strip(), "name": form.get("name", "")}
    data, errors = validate(CredentialIn, {**values, "secret": form.get("secret", "")}, CREDENTIAL_FIELDS)
    if data is not None:
        try:
            await credential_service.create_credential(
                session,
                ctx=ctx,
                principal=principal,
                provider=data.provider,
                name=data.name,
                secret=data.secret,
                extra=data.extra,
            )
        except Problem as exc:
            errors = problem_errors(exc, CREDENTIAL_FIELDS)
        else:
            notice = f"Saved '{data.name}'. Its secret is encrypted and will not be shown again."
            return await _credentials_page(request, session, principal, errors=FormErrors(), values={}, notice=notice)
    return await _credentials_page(request, session, principal, errors=errors, values=values, status_code=422)


@router.post("/app/credentials/{credential_id}/delete")
async def delete_credential(
    request: Request, credential_id: ItemId, principal: CurrentUser, session: Session
) -> Response:
    principal.ensure("credentials:write")
    await credential_service.delete_credential(session, principal=principal, credential_id=credential_id)
    return RedirectResponse("/app/credentials", status_code=303)


# --- audit log -------------------------------------------------------------------------------------------------


@router.get("/app/audit")
async def audit_log(
    request: Request, principal: CurrentUser, session: Session, cursor: str | None = None, action: str | None = None
) -> Response:
    principal.ensure("audit_logs:read")
    params = PageParams(limit=50, cursor=cursor[:200] if cursor else None)
    action = (action or "").strip()[:80] or None
    rows, next_cursor = await audit.list_logs(session, org_id=principal.org_id, params=params, action=action)
    context = {"rows": rows, "next_cursor": next_cursor, "action": action or ""}
    return await render(request, "settings/audit.html", context, session=session, principal=principal, section="audit")


@router.post("/app/audit/verify")
async def verify_audit(request: Request, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("audit_logs:read")
    report = await audit.verify(session, org_id=principal.org_id)
    return fragment(request, "settings/verify.html", {"report": report})
