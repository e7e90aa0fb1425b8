"""Retention and crypto-shredding, driven through the CLI and the API."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from anonymisation.keys import KeyUnavailable, derive_subkey
from anonymisation.pseudonyms import audit_pseudonym, pupil_id
from gateway.bootstrap import initialise
from gateway.cli import main
from gateway.db.models import AuditEvent, DataKey, Mark, PupilIdentity
from gateway.keys.store import YearKeys, load_keys, load_master
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


def _severe_absence_release(gw: Gateway, start: str, end: str) -> dict[str, object]:
    body = {"purpose": "la-severe-absence", "from": start, "to": end, "acknowledged": True,
            "justification": "Casework review of severe absence for the panel"}
    r = gw.client.post("/v1/releases", json=body, headers=gw.auth("la", "202", "case_officer"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _subject_access(gw: Gateway, upn: str) -> list[str]:
    dpo = gw.auth("operator", "operator", "dpo")
    r = gw.client.post("/v1/audit/subject-access", json={"upn": upn}, headers=dpo)
    assert r.status_code == 200, r.text
    return [str(found["release_id"]) for found in r.json()["releases"]]


def test_a_copy_of_the_keys_folder_taken_before_a_shred_cannot_open_the_shredded_year(
    own: Gateway, tmp_path: Path
) -> None:
    keys_dir = own.settings.data_dir / "keys"
    backup = tmp_path / "keys-backup"
    shutil.copytree(keys_dir, backup)
    with own.runtime.sessions() as db:
        stmt = select(DataKey.master_key_id).where(DataKey.academic_year == 2018)
        old_key_ids = set(db.execute(stmt).scalars())
    assert len(old_key_ids) == 1
    # Before the shred the copy opens the year (with the master key in use): the test can fail.
    assert len(YearKeys(backup, load_keys(own.settings).master).get(*old_key_ids)) == 32
    code, out = cli(own, "retention", "run", "--as-of", AS_OF)
    assert code == 0, out
    summary = json.loads(out)
    assert summary["shredded_years"] == [2018] and len(summary["retired_master_key_ids"]) == 1
    # The copy, used beside the live master key, or restored in place of the live folder: neither opens 2018.
    with pytest.raises(KeyUnavailable):
        YearKeys(backup, load_keys(own.settings).master).get(*old_key_ids)
    shutil.rmtree(keys_dir)
    shutil.copytree(backup, keys_dir)
    restored = load_keys(own.settings)
    with pytest.raises(KeyUnavailable):
        restored.kek(*old_key_ids)
    # The master key version that wrapped the copy's keys was destroyed: restored, the copy opens no year
    # at all (README: back up keys/ again after every shred).
    with pytest.raises(KeyUnavailable):
        restored.kek_for_year(2025)
    wrapped_under = json.loads((backup / "years" / "2018.json").read_text())["master_id"]
    assert wrapped_under in summary["retired_master_key_ids"]
    assert list(load_master(own.settings).ring().keys) == [summary["master_key_id"]]


def test_after_retention_no_key_file_and_no_subject_access_ties_a_upn_to_the_shredded_years_releases(
    own: Gateway,
) -> None:
    absent = pupil(2)["upn"]  # ill all day on every register: severely absent in both years
    old = _severe_absence_release(own, "2019-01-01", "2019-01-31")
    new = _severe_absence_release(own, "2025-10-01", "2025-10-31")
    assert old["record_count"] == new["record_count"] == 2  # pupils 2 and 3
    assert _subject_access(own, absent) == [old["release_id"], new["release_id"]]
    with own.runtime.sessions() as db:
        entry = db.execute(select(AuditEvent.entry).where(AuditEvent.idx == old["audit_index"])).scalar_one()
    event = json.loads(bytes(entry))
    assert len(event["pupil_refs"]) == 2

    code, out = cli(own, "retention", "run", "--as-of", AS_OF)
    assert code == 0, out
    # Through the HTTP API, in the running server and in a fresh one: the live year's release only.
    assert _subject_access(own, absent) == [new["release_id"]]
    runtime = build_runtime(own.settings)
    with TestClient(create_app(own.settings, runtime=runtime), raise_server_exceptions=False) as client:
        fresh = client.post("/v1/audit/subject-access", json={"upn": absent},
                            headers=own.auth("operator", "operator", "dpo")).json()
    runtime.engine.dispose()
    assert [r["release_id"] for r in fresh["releases"]] == [new["release_id"]]
    # Through the key files: no key left in the data directory names the pupil as the old event does.
    keys = load_keys(own.settings)
    pid = pupil_id(absent, keys.pupil_id_key)
    root = base64.b64decode((own.settings.data_dir / "keys" / "pseudonym.key").read_text())
    labels = ("audit-pseudonym", "pupil-id", "pupil-ref", "identity-digest")
    candidates = {derive_subkey(root, label) for label in labels}
    candidates |= {keys.audit_key_for_year(year) for year in keys.year_keys.years()}
    assert 2018 not in keys.year_keys.years()
    assert {audit_pseudonym(pid, key) for key in candidates}.isdisjoint(event["pupil_refs"])
    with pytest.raises(KeyUnavailable):
        keys.audit_key_for_year(2018)
    # The log holds pseudonyms, not keys: it still verifies.
    assert cli(own, "audit", "verify")[0] == 0
