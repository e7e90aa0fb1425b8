"""Property-based testing of every route from the OpenAPI document (schemathesis), for every role with
a real token of its organisation: every response, status, header and body must be what the document
says, invalid data must be refused and valid data accepted, and nothing is a server error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from stdnum.gb.upn import calc_check_digit

from gateway.keys.idp import mint_token
from gateway.main import create_app
from gateway.runtime import build_runtime
from gateway.services.schools import import_gias
from gateway.settings import Settings
from schemas.upn import UPN_PATTERN
from tests.factories import write_gias

#: Each role with an organisation of the type it belongs to.
ROLES = {
    "feed_submitter": ("school", "100001"),
    "attendance_officer": ("school", "100001"),
    "case_officer": ("la", "202"),
    "dpo": ("operator", "operator"),
    "statistician": ("dfe", "dfe"),
}

load_all_checks()
ALL_CHECKS = {check.__name__: check for check in CHECKS.get_all()}
#: Checks that cannot apply here, each with its reason; every other check runs on every response.
NOT_APPLICABLE = {
    # A read that succeeds after a successful DELETE of the same resource: the API has no DELETE (a
    # release's deletion is attested with a POST, and its metadata stays readable by design).
    "use_after_free": "no DELETE operation",
    # A 404 for a resource its parent call (in a stateful run over OpenAPI links) has just created: the
    # gateway's resources are made from stored registers by purpose, never by a generated request.
    "ensure_resource_availability": "stateful runs only; no generated request creates a resource",
    # One identity reading what another created, in a stateful run with two identities: this test has
    # one identity per run; cross-organisation reads have their own tests in tests/api (test_pupils,
    # test_consents, test_releases, test_audit).
    "object_level_authorization": "stateful runs with two identities only",
}
SETTINGS = hypothesis_settings(
    max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
CHECKS_RUN = [check for name, check in ALL_CHECKS.items() if name not in NOT_APPLICABLE]
#: Operations whose valid requests also obey rules that JSON Schema cannot state (between fields, or
#: against what is stored), so that a schema-valid request may rightly get a 422: for them, and only
#: them, `positive_data_acceptance` is not run. Every other check still is.
POSITIVE_DATA_NOT_EXPRESSIBLE = {
    # The date is not in the future nor past retention; a date of birth is before it; each code is
    # in force on it; each UPN appears once.
    "PUT /v1/schools/{urn}/attendance/{date}": "rules relative to the register's date and between rows",
    # A window starts before it ends, lies in one academic year, has a school day and ends by today.
    "GET /v1/schools/{urn}/pupils": "window rules",
    "POST /v1/releases": "window rules",
    "GET /v1/stats": "window rules; a dimension at most once",
    "POST /v1/stats/releases": "window rules; a table at most once",
    "POST /v1/stats/trend": "`to` by today; a recent academic year",
    # Indexes and sizes are bounded by the log's size at the time of asking.
    "GET /v1/audit/proofs/inclusion": "bounded by the log's current size",
    "GET /v1/audit/proofs/consistency": "bounded by the log's current size",
    "GET /v1/audit/events": "a cursor must be one this gateway issued; `from` before `to`",
}
WITHOUT_POSITIVE = [check for check in CHECKS_RUN if check.__name__ != "positive_data_acceptance"]


def with_check_letters(value: object) -> object:
    """The body with each UPN that matches the documented pattern given a real issuing LA and its
    check letter (OpenAPI format `upn`), which no JSON Schema keyword can state: the request stays
    as valid, or as invalid, as schemathesis drew it."""
    if isinstance(value, dict):
        return {key: with_check_letters(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_check_letters(item) for item in value]
    if isinstance(value, str) and re.fullmatch(UPN_PATTERN, value):
        body = "202" + value[4:].upper()
        return calc_check_digit(body) + body
    return value


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", list(ROLES))
def test_every_response_is_what_the_openapi_document_says(
    settings: Settings, tmp_path: Path, role: str
) -> None:
    runtime = build_runtime(settings)
    import_gias(runtime.sessions, write_gias(tmp_path / "gias.csv"))
    org_type, org_id = ROLES[role]
    token = mint_token(settings.data_dir, org_type=org_type, org_id=org_id, roles=[role],
                       issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, runtime=runtime))
    headers = {"Authorization": f"Bearer {token}"}
    failures: dict[str, set[str]] = {}
    called: set[tuple[str, str]] = set()

    def check(case: schemathesis.Case) -> None:
        case.body = with_check_letters(case.body)
        response = case.call(headers=headers)
        if case.meta is not None:
            called.add((case.operation.label, case.meta.generation.mode.value))
        try:
            checks = WITHOUT_POSITIVE if case.operation.label in POSITIVE_DATA_NOT_EXPRESSIBLE else CHECKS_RUN
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                first = " / ".join(failure.message.strip().splitlines()[:2])
                found = failures.setdefault(case.operation.label, set())
                # One example per kind of failure: the request and what the gateway answered.
                if not any(f.startswith(f"{failure.title}: {first}") for f in found):
                    found.add(f"{failure.title}: {first}\n    {case.as_curl_command(headers=headers)[:300]}"
                              f"\n    -> {response.status_code} {response.text[:300]}")

    # The builder behind `schema.parametrize()` (examples, coverage and fuzzing phases, positive and
    # negative data), called directly: the lazy pytest plugin (`from_fixture`), which would give each
    # role its own app, fails on pytest 9 (it sets `request.node._nodeid`, which pytest 9 no longer has).
    feedback = FeedbackSources()
    labels = set()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            labels.add(operation.label)
            test = build_operation_test(config=schema.config, operation=operation, test_func=check,
                                        given_kwargs={}, feedback=feedback, explicit_settings=SETTINGS)
            test()
    finally:
        runtime.engine.dispose()
    report = "\n".join(f"{label}\n  " + "\n  ".join(sorted(found))
                       for label, found in sorted(failures.items()))
    assert not failures, report
    # Every operation was asked with valid and with invalid data.
    assert len(labels) >= 25
    assert called == {(label, mode) for label in labels for mode in ("positive", "negative")}
