"""Personal data never reaches logs or the database file in clear."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.conftest import Gateway
from tests.factories import feed_csv, feed_json, pupil

DAY = dt.date(2025, 10, 6)


def _rows() -> list[dict]:
    return [pupil(i, forename=f"Persephone{i}", surname=f"Quinterro{i}", date_of_birth=f"2015-0{1 + i % 9}-1{i % 10}")
            for i in range(1, 21)]


def _needles(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        out += [r["upn"], r["forename"], r["surname"], r["date_of_birth"]]
    return out


def test_no_identifier_appears_in_the_logs(loaded: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows()
    headers = {"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")}
    url = f"/v1/schools/100001/attendance/{DAY.isoformat()}"
    assert loaded.client.put(url, content=feed_json(rows), headers=headers).status_code == 201
    wrong_check = "B" if rows[0]["upn"][0] != "B" else "C"
    bad = [dict(rows[0], upn=wrong_check + rows[0]["upn"][1:])]
    assert loaded.client.put(url, content=feed_json(bad), headers=headers).status_code == 422
    assert loaded.client.put(url, content=feed_csv(rows), headers={**headers, "Content-Type": "text/csv"}).status_code == 200
    # The refused UPN (wrong check letter) must not be logged either.
    rows.append(bad[0])
    officer = loaded.auth("school", 100001, "attendance_officer")
    assert loaded.client.get("/v1/schools/100001/pupils?from=2025-10-01&to=2025-10-31", headers=officer).status_code == 200
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert "feed_stored" in log and "request" in log
    for needle in _needles(rows):
        assert needle not in log


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_sqlite_file_holds_no_identifier_in_clear(loaded: Gateway) -> None:
    rows = _rows()
    headers = {"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")}
    for i in range(3):
        day = DAY + dt.timedelta(days=i)
        assert loaded.client.put(f"/v1/schools/100001/attendance/{day.isoformat()}", content=feed_json(rows), headers=headers).status_code == 201
    path = Path(loaded.settings.database_url.removeprefix("sqlite:///"))
    loaded.runtime.engine.dispose()
    raw = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    for needle in _needles(rows):
        assert needle.encode() not in raw
        assert needle.encode("utf-16-le") not in raw
    # The names of the columns are there, so the scan is looking at the right file.
    assert b"pupil_identities" in raw


def test_no_identifier_is_stored_in_any_text_column(loaded: Gateway) -> None:
    from sqlalchemy import inspect, text

    rows = _rows()
    headers = {"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")}
    assert loaded.client.put(f"/v1/schools/100001/attendance/{DAY.isoformat()}", content=feed_json(rows), headers=headers).status_code == 201
    needles = _needles(rows)
    with loaded.runtime.engine.connect() as conn:
        inspector = inspect(conn)
        for table in inspector.get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                blob = " ".join(str(v) for v in row)
                for needle in needles:
                    assert needle not in blob, table


def test_outside_dev_logs_are_json_lines_each_with_a_request_id(loaded: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from fastapi.testclient import TestClient

    from gateway.main import create_app
    from gateway.runtime import build_runtime

    settings = loaded.settings.model_copy(update={"env": "production"})
    runtime = build_runtime(settings)
    capsys.readouterr()
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            headers = {"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")}
            assert client.put(f"/v1/schools/100001/attendance/{DAY.isoformat()}", content=feed_json(_rows()), headers=headers).status_code == 201
    finally:
        runtime.engine.dispose()
        from gateway.logging import configure_logging

        configure_logging("dev")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    request_lines = [r for r in records if r.get("event") in ("request", "feed_stored", "audit_recorded")]
    assert {r["event"] for r in request_lines} >= {"request", "feed_stored", "audit_recorded"}
    assert len({r["request_id"] for r in request_lines}) == 1
    for needle in _needles(_rows()):
        assert needle not in "\n".join(lines)
