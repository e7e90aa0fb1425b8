"""Property-based fuzzing of every route from the OpenAPI schema (schemathesis): whatever a client
sends, the gateway never answers with a server error."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from gateway.devidp import mint_token
from gateway.main import create_app
from gateway.runtime import build_runtime
from gateway.services.schools import import_gias
from gateway.settings import Settings
from tests.factories import write_gias

ROLES = ["feed_submitter", "attendance_officer", "case_officer", "dpo", "statistician"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_request_a_client_can_send_gets_a_server_error(settings: Settings, tmp_path: Path) -> None:
    runtime = build_runtime(settings)
    import_gias(runtime.sessions, write_gias(tmp_path / "gias.csv"))
    app = create_app(settings, runtime=runtime)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    token = mint_token(settings.data_dir, org_type="school", org_id="100001", roles=ROLES, issuer=settings.jwt_issuer,
                       audience=settings.jwt_audience)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    try:
        for operation in operations:
            @given(case=operation.as_strategy())
            @hypothesis_settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call(headers={"Authorization": f"Bearer {token}"})
                if response.status_code >= 500 and response.status_code != 503:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

            fuzz()
    finally:
        runtime.engine.dispose()
    assert failures == []
