"""The OpenAPI document describes every route, and the running API keeps to it under fuzzing.

Schemathesis generates requests from /openapi.json (valid and invalid ones) against a real
uvicorn server on each database backend, authenticated as an org owner, and checks that no answer
is a 5xx and every answer matches the documented status codes, content types and schemas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.live import serve

PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/v1/auth/signup",
    "/v1/auth/login",
    "/v1/auth/refresh",
    "/v1/auth/logout",
    "/v1/invitations/accept",
}


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[str]:

    asyncio.run(prepare_schema(database_url))
    app = create_app(
        make_settings(
            database_url,
            tmp_path,
            rate_limit_api="100000/minute",
            rate_limit_org="100000/minute",
            rate_limit_auth_ip="100000/minute",
        )
    )
    with serve(app) as server:
        yield server.base_url


@pytest.fixture
def owner_headers(live_server: str) -> dict[str, str]:
    r = httpx.post(
        f"{live_server}/v1/auth/signup",
        json={"email": "fuzz@example.com", "password": "fuzzing password", "name": "F", "organization_name": "Fuzz"},
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_fuzzing_finds_no_5xx_and_no_undocumented_response(live_server: str, owner_headers: dict[str, str]) -> None:
    api = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 20
    failures: list[str] = []
    for operation in operations:
        has_input = bool(operation.definition.raw.get("parameters") or operation.definition.raw.get("requestBody"))
        # With no input there is nothing invalid to generate.
        for mode in GenerationMode if has_input else [GenerationMode.POSITIVE]:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
            def exercise(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=owner_headers, checks=CHECKS)

            try:
                exercise()
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report all
                details = [str(e) for e in exc.exceptions] if isinstance(exc, BaseExceptionGroup) else [str(exc)]
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: " + "\n".join(details))
    assert not failures, "\n\n".join(failures)


async def test_every_route_documents_auth_request_and_errors(client) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    assert len(operations) > 20
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        if path in PUBLIC_PATHS:
            assert not op.get("security"), where
        else:
            assert op.get("security") == [{"HTTPBearer": []}], where
            for status in ("401", "403", "429"):
                assert status in responses, f"{where} does not document {status}"
        if "requestBody" in op or op.get("parameters"):
            assert "422" in responses, f"{where} does not document 422"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert "application/problem+json" in response["content"], f"{where} {status}"
        assert op.get("summary") and op.get("operationId"), where
