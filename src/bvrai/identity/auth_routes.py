"""Public authentication routes (sign-up, log-in, refresh, log-out, accepting an invitation) and /me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from bvrai.identity import auth_service, invitation_service, org_service
from bvrai.identity.auth import CurrentPrincipal
from bvrai.identity.schemas import (
    InvitationAcceptIn,
    LoginIn,
    MeOut,
    MeUpdate,
    RefreshIn,
    SignupIn,
    TokenPair,
)
from bvrai.kit.context import Ctx, Session, client_ip
from bvrai.kit.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["auth"])


async def limit_auth_by_ip(request: Request, ctx: Ctx) -> None:
    """Stricter per-IP limit for unauthenticated routes (credential stuffing, sign-up spam)."""
    await ctx.limiter.hit(ctx.settings.rate_limit_auth_ip, "auth", client_ip(request))


AuthLimited = Annotated[None, Depends(limit_auth_by_ip)]


@router.post("/auth/signup", response_model=TokenPair, status_code=201, responses=problem_responses(409, 422, 429))
async def signup(data: SignupIn, request: Request, ctx: Ctx, session: Session, _: AuthLimited) -> TokenPair:
    """Create an account, its organization (you are the owner) and a session."""
    return await auth_service.signup(session, ctx=ctx, data=data, ip=client_ip(request))


@router.post("/auth/login", response_model=TokenPair, responses=problem_responses(401, 422, 429))
async def login(data: LoginIn, request: Request, ctx: Ctx, session: Session, _: AuthLimited) -> TokenPair:
    """Exchange email and password for an access token (15 min) and a refresh token."""
    return await auth_service.login(session, ctx=ctx, data=data, ip=client_ip(request))


@router.post("/auth/refresh", response_model=TokenPair, responses=problem_responses(401, 422, 429))
async def refresh(data: RefreshIn, ctx: Ctx, session: Session, _: AuthLimited) -> TokenPair:
    """Spend a refresh token for a new pair. Reusing a spent token revokes its whole family."""
    return await auth_service.refresh(session, ctx=ctx, refresh_token=data.refresh_token)


@router.post("/auth/logout", status_code=204, responses=problem_responses(422, 429))
async def logout(data: RefreshIn, ctx: Ctx, session: Session, _: AuthLimited) -> Response:
    """Revoke the refresh token and every token rotated from the same login."""
    await auth_service.logout(session, ctx=ctx, refresh_token=data.refresh_token)
    return Response(status_code=204)


@router.post(
    "/invitations/accept", response_model=TokenPair, status_code=201, responses=problem_responses(401, 404, 422, 429)
)
async def accept_invitation(
    data: InvitationAcceptIn, request: Request, ctx: Ctx, session: Session, _: AuthLimited
) -> TokenPair:
    """Join an organization with an invitation token (creating the account if needed)."""
    return await invitation_service.accept(session, ctx=ctx, data=data, ip=client_ip(request))


for route in router.routes:
    route.openapi_extra = {"security": []}  # type: ignore[attr-defined]


me_router = APIRouter(prefix="/v1", tags=["me"])


@me_router.get("/me", response_model=MeOut, responses=problem_responses(401, 403, 429))
async def get_me(principal: CurrentPrincipal, session: Session) -> MeOut:
    """Your user, your role and permissions in the token's organization, and all your organizations."""
    return await org_service.me(session, principal=principal)


@me_router.patch("/me", response_model=MeOut, responses=problem_responses(401, 403, 422, 429))
async def update_me(data: MeUpdate, principal: CurrentPrincipal, session: Session) -> MeOut:
    return await org_service.update_me(session, principal=principal, name=data.name)
