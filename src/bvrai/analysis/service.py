"""Post-call analysis use cases: schedule it when a call ends, read it, and run it (the job).

The run asks the agent's LLM (its primary provider) two things about the transcript: a summary,
success verdict against the rubric and the caller's sentiment, as one JSON object; and, when the agent
has a ``structured_data_schema``, the data to extract. That answer must validate against the schema;
when it does not, the LLM is asked once more with the validation error, and a second invalid answer
is stored as ``structured_data_status = "failed"``. Then ``call.analyzed`` goes out.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from pipecat.processors.aggregators.llm_context import LLMContext
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.agents import service as agents
from bvrai.agents.spec import AgentSpec
from bvrai.analysis.models import CallAnalysis
from bvrai.analysis.repository import AnalysisRepository
from bvrai.calls import service as calls
from bvrai.calls.models import Call
from bvrai.identity.principal import Principal
from bvrai.kit import jobs
from bvrai.kit.context import AppContext
from bvrai.kit.ids import new_id
from bvrai.kit.tenancy import found
from bvrai.providers.base import ProviderError
from bvrai.providers.builder import build_stage
from bvrai.webhooks import service as webhooks

RUN = "analysis.run"
SYSTEM = "You analyse phone call transcripts. Answer with exactly one JSON object and nothing else."
SENTIMENTS = {"positive", "neutral", "negative"}
DEFAULT_RUBRIC = "The call succeeded if the caller's request was handled."


def system(org_id: str) -> Principal:
    return Principal(org_id=org_id, role="system", permissions=frozenset())


async def schedule(session: AsyncSession, *, call: Call) -> CallAnalysis | None:
    """Queue the analysis of an ended call that had a conversation (after the caller's commit); an agent
    whose plan asks for nothing (no summary, schema or rubric) gets none."""
    if call.status != "completed":
        return None
    version = await agents.get_version(
        session, principal=system(call.org_id), agent_id=call.agent_id, version=call.agent_version
    )
    plan = version.spec.get("analysis") or {}
    if not (plan.get("summary", True) or plan.get("structured_data_schema") or plan.get("success_rubric")):
        return None
    repo = AnalysisRepository(session)
    analysis = await repo.of_call_unscoped(call.id)
    if analysis is None:
        analysis = CallAnalysis(id=new_id("ana"), call_id=call.id, org_id=call.org_id, status="pending")
        repo.add(analysis)
        await repo.flush()
    await jobs.enqueue(session, RUN, key=f"analysis:{call.id}", call_id=call.id)
    return analysis


async def get_analysis(session: AsyncSession, *, principal: Principal, call_id: str) -> CallAnalysis:
    call = await calls.get_call(session, principal=principal, call_id=call_id)
    return found(await AnalysisRepository(session).of_call(principal.org_id, call.id), "analysis")


def _transcript_text(lines: list[tuple[str, str]]) -> str:
    names = {"user": "Caller", "assistant": "Agent"}
    return "\n".join(f"{names.get(role, role)}: {text}" for role, text in lines)


def parse_json_object(text: str | None) -> dict[str, Any]:
    """The JSON object in an LLM's answer (code fences and prose around it tolerated)."""
    if not text:
        raise ValueError("the LLM gave no answer")
    match = re.search(r"\{.*\}", text, re.S)
    if match is None:
        raise ValueError("the answer holds no JSON object")
    value = json.loads(match.group(0))
    if not isinstance(value, dict):
        raise ValueError("the answer is not a JSON object")
    return value


async def _ask(llm: Any, messages: list[dict[str, str]]) -> str:
    context = LLMContext(messages=list(messages))  # type: ignore[arg-type]
    answer = await llm.run_inference(context, system_instruction=SYSTEM)
    return str(answer or "")


async def _verdict(llm: Any, transcript: str, rubric: str) -> dict[str, Any]:
    prompt = (
        f"Transcript:\n{transcript}\n\nSuccess rubric: {rubric}\n\n"
        'Answer with {"summary": "<two or three sentences>", "success": true or false, '
        '"success_reason": "<one sentence>", "sentiment": "positive" | "neutral" | "negative"} '
        "where sentiment is the caller's."
    )
    return parse_json_object(await _ask(llm, [{"role": "user", "content": prompt}]))


async def _structured(llm: Any, transcript: str, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Data valid against ``schema``, or None and the last validation error after one retry."""
    messages = [
        {
            "role": "user",
            "content": f"Transcript:\n{transcript}\n\nExtract data from the call as one JSON object valid "
            f"against this JSON schema:\n{json.dumps(schema)}",
        }
    ]
    error = ""
    for _ in range(2):
        answer = await _ask(llm, messages)
        try:
            data = parse_json_object(answer)
            jsonschema.validate(data, schema)
            return data, None
        except (ValueError, jsonschema.ValidationError) as exc:
            error = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
            where = "/".join(str(p) for p in getattr(exc, "absolute_path", []))
            error = f"{where}: {error}" if where else error
        messages += [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": f"That answer is invalid: {error}. Answer again with a corrected JSON object."},
        ]
    return None, error


async def run(ctx: AppContext, *, call_id: str) -> None:
    async with ctx.sessions() as session:
        analysis = await AnalysisRepository(session).of_call_unscoped(call_id)
        if analysis is None or analysis.status != "pending":
            return
        principal = system(analysis.org_id)
        call = await calls.get_call(session, principal=principal, call_id=call_id)
        version = await agents.get_version(
            session, principal=principal, agent_id=call.agent_id, version=call.agent_version
        )
        spec = AgentSpec.model_validate(version.spec)
        messages = await calls.transcript(session, principal=principal, call_id=call_id)
        lines = [(m.role, m.content) for m in messages if m.role in ("user", "assistant") and m.content]
        llm_config = spec.llm.model_copy(update={"fallbacks": []})
        try:
            llm = await build_stage(
                session,
                ctx=ctx,
                org_id=call.org_id,
                stage="llm",
                config=llm_config,
                sample_rate=16000,
                extra={"background": True},  # a local model serves live calls first
            )
        except ProviderError as exc:
            llm, build_error = None, str(exc)
    plan = spec.analysis
    results: dict[str, Any] = {"llm": f"{llm_config.provider}:{llm_config.model}"}
    if llm is None:
        results |= {"status": "failed", "error": build_error}
    elif not lines:
        results |= {"status": "completed", "summary": "Nobody spoke on this call." if plan.summary else None}
    else:
        transcript = _transcript_text(lines)
        try:
            verdict = await _verdict(llm, transcript, plan.success_rubric or DEFAULT_RUBRIC)
            results |= {
                "status": "completed",
                "summary": str(verdict.get("summary") or "") or None if plan.summary else None,
                "success": verdict["success"] if isinstance(verdict.get("success"), bool) else None,
                "success_reason": str(verdict.get("success_reason") or "") or None,
                "sentiment": verdict.get("sentiment") if verdict.get("sentiment") in SENTIMENTS else None,
            }
            if plan.structured_data_schema:
                data, error = await _structured(llm, transcript, plan.structured_data_schema)
                results |= {
                    "structured_data": data,
                    "structured_data_status": "valid" if error is None else "failed",
                    "structured_data_error": error,
                }
        except ProviderError as exc:
            results = {"llm": results["llm"], "status": "failed", "error": str(exc)}
        except ValueError as exc:
            results = {"llm": results["llm"], "status": "failed", "error": f"the LLM's answer was unusable: {exc}"}
    await _store(ctx, call_id=call_id, results=results)


async def _store(ctx: AppContext, *, call_id: str, results: dict[str, Any]) -> None:
    async with ctx.sessions() as session:
        analysis = await AnalysisRepository(session).of_call_unscoped(call_id)
        if analysis is None or analysis.status != "pending":
            return
        for name, value in results.items():
            setattr(analysis, name, value)
        call = await calls.get_call(session, principal=system(analysis.org_id), call_id=call_id)
        from bvrai.webhooks.call_hooks import agent_webhook_url

        await webhooks.emit_event(
            session,
            org_id=analysis.org_id,
            type="call.analyzed",
            data={
                "call_id": call_id,
                "agent_id": call.agent_id,
                "status": analysis.status,
                "summary": analysis.summary,
                "success": analysis.success,
                "sentiment": analysis.sentiment,
                "structured_data": analysis.structured_data,
                "structured_data_status": analysis.structured_data_status,
            },
            agent_webhook_url=await agent_webhook_url(session, call),
        )
        await session.commit()
