from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from bvrai.analysis import service
from bvrai.analysis.schemas import AnalysisOut
from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import Session

router = APIRouter(prefix="/v1", tags=["calls"])
Reader = Annotated[Principal, Depends(require("calls:read"))]


CallId = Annotated[str, Path(max_length=64)]


@router.get("/calls/{call_id}/analysis", response_model=AnalysisOut)
async def get_analysis(call_id: CallId, principal: Reader, session: Session) -> AnalysisOut:
    """The post-call analysis: summary, success verdict, caller sentiment and structured data. 404 until
    the call has ended with a conversation; `status` is `pending` while the LLM works."""
    return AnalysisOut.model_validate(await service.get_analysis(session, principal=principal, call_id=call_id))
