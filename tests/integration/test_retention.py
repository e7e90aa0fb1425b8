"""Retention and crypto-shredding, driven through the CLI and the API."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from anonymisation.keys import KeyUnavailable
from gateway.bootstrap import initialise
from gateway.cli import main
from gateway.db.models import DataKey, Mark, PupilIdentity
from gateway.db.session import normalise_url
from gateway.keystore import load_keys
from gateway.main import create_app
from gateway.runtime import build_runtime
from gateway.services.schools import import_gias
from gateway.settings import Settings
from tests.conftest import Gateway
from tests.factories import feed_json, pupil, write_gias

OLD_DAYS = [dt.date(2019, 1, 14), dt.date(2019, 1, 15)]  # academic year 2018/19: retained to 31 July 2025
NEW_DAYS = [dt.date(2025, 10, 6), dt.date(2025, 10, 7)]  # academic year 2025/26
AS_OF = "2025-11-01"


@pytest.fixture
def own(database_url: str, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway with its own data directory, so that shredding a year touches no other test's keys."""
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", env="dev")
    initialise(settings)
    runtime = build_runtime(settings)
    import_gias(runtime.sessions, write_gias(tmp_path / "gias.csv"))
    with TestClient(create_app(settings, runtime=runtime), raise_server_exceptions=False) as client:
        gw = Gateway(settings=settings, runtime=runtime, client=client)
        headers = {"Content-Type": "application/json", **gw.auth("school", 100001, "feed_submitter")}
        for day in OLD_DAYS + NEW_DAYS:
            rows = [pupil(1, am="G", pm="G"), pupil(2, forename="Oldname", am="I", pm="I"), pupil(3)]
            assert client.put(f"/v1/schools/100001/attendance/{day.isoformat()}", content=feed_json(rows), headers=headers).status_code == 201
        yield gw
    runtime.engine.dispose()


def cli(gw: Gateway, *args: str) -> tuple[int, str]:
    env = {"GATEWAY_DATA_DIR": str(gw.settings.data_dir), "GATEWAY_DATABASE_URL": gw.settings.database_url}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout


def count(gw: Gateway, model: type, year: int) -> int:
    with gw.runtime.sessions() as db:
        return int(db.execute(select(func.count()).select_from(model).where(model.academic_year == year)).scalar_one())


def officer(gw: Gateway) -> dict[str, str]:
    return gw.auth("school", 100001, "attendance_officer")


def test_a_dry_run_reports_and_changes_nothing(own: Gateway) -> None:
    code, out = cli(own, "retention", "run", "--as-of", AS_OF, "--dry-run")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["dry_run"] is True and summary["shredded_years"] == [2018] and summary["shredded_keys"] == 3
    assert count(own, DataKey, 2018) == 3 and count(own, Mark, 2018) == 6
    pupils = own.client.get("/v1/schools/100001/pupils?from=2019-01-01&to=2019-01-31", headers=officer(own)).json()["pupils"]
    assert len(pupils) == 3


def test_retention_shreds_the_old_year_only_and_is_idempotent(own: Gateway) -> None:
    code, out = cli(own, "retention", "run", "--as-of", AS_OF)
    assert code == 0, out
    summary = json.loads(out)
    assert summary["shredded_years"] == [2018]
    assert (summary["shredded_keys"], summary["deleted_identities"], summary["deleted_marks"]) == (3, 3, 6)
    assert count(own, DataKey, 2018) == 0 and count(own, PupilIdentity, 2018) == 0 and count(own, Mark, 2018) == 0
    # The new year is untouched and still readable.
    assert count(own, DataKey, 2025) == 3
    new = own.client.get("/v1/schools/100001/pupils?from=2025-10-01&to=2025-10-31", headers=officer(own)).json()["pupils"]
    assert sorted(p["upn"] for p in new) == sorted(pupil(i)["upn"] for i in (1, 2, 3))
    # The old year's school view has nothing identifying left.
    old = own.client.get("/v1/schools/100001/pupils?from=2019-01-01&to=2019-01-31", headers=officer(own))
    assert old.status_code == 200 and old.json()["pupils"] == []
    # A second run changes nothing.
    again = json.loads(cli(own, "retention", "run", "--as-of", AS_OF)[1])
    assert again["shredded_years"] == [] and again["shredded_keys"] == 0 and again["deleted_marks"] == 0
    # The audit log never held identifiers, so it still verifies.
    code, out = cli(own, "audit", "verify")
    assert code == 0, out


def test_a_release_for_a_shredded_window_carries_no_identifiers(own: Gateway) -> None:
    cli(own, "retention", "run", "--as-of", AS_OF)
    r = own.client.post("/v1/releases", json={"purpose": "la-severe-absence", "from": "2019-01-01", "to": "2019-01-31",
                                              "acknowledged": True, "justification": "Casework review of an old case for the tribunal"},
                        headers=own.auth("la", "202", "case_officer"))
    assert r.status_code in (201, 403), r.text
    assert r.status_code == 403 or r.json()["records"] == []
    for i in (1, 2, 3):
        assert pupil(i)["upn"] not in r.text


def test_a_register_for_a_shredded_year_is_refused(own: Gateway) -> None:
    cli(own, "retention", "run", "--as-of", AS_OF)
    headers = {"Content-Type": "application/json", **own.auth("school", 100001, "feed_submitter")}
    r = own.client.put("/v1/schools/100001/attendance/2019-01-16", content=feed_json([pupil(1)]), headers=headers)
    assert r.status_code == 422 and "retention" in r.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_after_shredding_neither_the_database_file_nor_an_earlier_copy_can_be_decrypted(own: Gateway, tmp_path: Path) -> None:
    db_file = Path(own.settings.database_url.removeprefix("sqlite:///"))
    own.runtime.engine.dispose()  # the last connection to close checkpoints the WAL into the file
    backup = tmp_path / "backup-before-shred.db"
    shutil.copyfile(db_file, backup)
    code, _ = cli(own, "retention", "run", "--as-of", AS_OF)
    assert code == 0
    keys = load_keys(own.settings)
    # The copy still holds the old year's wrapped data keys, but the year key that unwraps them is gone.
    engine = create_engine(f"sqlite:///{backup}")
    with engine.connect() as conn:
        wrapped = conn.execute(text("SELECT wrapped_key, master_key_id FROM data_keys WHERE academic_year = 2018")).all()
    engine.dispose()
    assert len(wrapped) == 3
    for _, key_id in wrapped:
        with pytest.raises(KeyUnavailable):
            keys.kek(key_id)
    # The live file no longer holds those wrapped keys at all (deleted with secure_delete).
    own.runtime.engine.dispose()
    live = db_file.read_bytes() + (db_file.with_name(db_file.name + "-wal").read_bytes() if db_file.with_name(db_file.name + "-wal").exists() else b"")
    for blob, _ in wrapped:
        assert bytes(blob) not in live
    # Neither file holds an identifier in clear.
    for raw in (live, backup.read_bytes()):
        for i in (1, 2, 3):
            assert pupil(i)["upn"].encode() not in raw
        assert b"Oldname" not in raw


def test_expired_releases_are_marked_and_overdue_ones_listed(own: Gateway) -> None:
    made = own.client.post("/v1/releases", json={"purpose": "la-targeting-support", "from": "2025-10-01", "to": "2025-10-31",
                                                 "acknowledged": True, "justification": "Termly targeting support meeting preparation"},
                           headers=own.auth("la", "202", "case_officer"))
    assert made.status_code == 201, made.text
    later = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    summary = json.loads(cli(own, "retention", "run", "--as-of", later)[1])
    assert summary["expired_releases"] == 1
    assert [r["release_id"] for r in summary["overdue_releases"]] == [made.json()["release_id"]]
    again = json.loads(cli(own, "retention", "run", "--as-of", later)[1])
    assert again["expired_releases"] == 0 and len(again["overdue_releases"]) == 1


def test_rotating_the_master_key_keeps_every_identifier_readable(own: Gateway) -> None:
    ring_file = own.settings.data_dir / "master" / "master-keys.json"
    before = json.loads(ring_file.read_text())["current"]
    code, out = cli(own, "keys", "rotate-master")
    assert code == 0, out
    result = json.loads(out)
    assert result["old_key_id"] == before and result["new_key_id"] != before and result["year_keys_rewrapped"] == 2
    assert list(json.loads(ring_file.read_text())["keys"]) == [result["new_key_id"]]
    # A fresh process (new runtime) reads everything with the new master key alone.
    runtime = build_runtime(own.settings)
    with TestClient(create_app(own.settings, runtime=runtime), raise_server_exceptions=False) as client:
        pupils = client.get("/v1/schools/100001/pupils?from=2025-10-01&to=2025-10-31", headers=officer(own)).json()["pupils"]
    runtime.engine.dispose()
    assert len(pupils) == 3


def test_the_server_runs_retention_by_itself(own: Gateway) -> None:
    import time

    from sqlalchemy import update

    from gateway.db.models import Release

    made = own.client.post("/v1/releases", json={"purpose": "la-targeting-support", "from": "2025-10-01", "to": "2025-10-31",
                                                 "acknowledged": True, "justification": "Termly targeting support meeting preparation"},
                           headers=own.auth("la", "202", "case_officer"))
    assert made.status_code == 201
    with own.runtime.sessions() as db, db.begin():
        db.execute(update(Release).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)))
    settings = own.settings.model_copy(update={"retention_first_run_seconds": 0.1})
    runtime = build_runtime(settings)
    with TestClient(create_app(settings, runtime=runtime)):
        deadline = time.monotonic() + 20
        expired = None
        while time.monotonic() < deadline and expired is None:
            time.sleep(0.2)
            with runtime.sessions() as db:
                expired = db.execute(select(Release.expired_at)).scalar_one()
    runtime.engine.dispose()
    assert expired is not None
