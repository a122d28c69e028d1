from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bvrai.audit import service
from bvrai.audit.repository import AuditRepository
from bvrai.audit.schemas import AuditLogOut, VerifyReport
from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import Session
from bvrai.kit.errors import problem_responses
from bvrai.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/v1/audit-logs", tags=["audit-logs"])
Reader = Annotated[Principal, Depends(require("audit_logs:read"))]


@router.get("", response_model=Page[AuditLogOut], responses=problem_responses(400, 401, 403, 422, 429))
async def list_audit_logs(
    principal: Reader,
    session: Session,
    pages: Annotated[PageParams, Depends(page_params)],
    action: Annotated[str | None, Query(max_length=80)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditLogOut]:
    """Every mutating action in your organization, newest first."""
    rows, cursor = await AuditRepository(session).list(principal.org_id, pages, action=action, target_id=target_id)
    return Page(data=[AuditLogOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/verify", response_model=VerifyReport, responses=problem_responses(401, 403, 429))
async def verify_audit_chain(principal: Reader, session: Session) -> VerifyReport:
    """Recompute the organization's hash chain and report every row that does not match."""
    return await service.verify(session, org_id=principal.org_id)
