"""The key files: a master key from the environment, data directories of the earlier layout, and the
modes `gateway init` gives the data directory, its key folders and the SQLite files."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from anonymisation.keys import KeyUnavailable, master_key_id, new_key
from anonymisation.pseudonyms import audit_pseudonym, pupil_id
from gateway.bootstrap import initialise
from gateway.cli import main
from gateway.db.models import Mark
from gateway.db.session import transaction
from gateway.keys.store import YearKeys, load_keys, load_master
from gateway.main import create_app
from gateway.runtime import build_runtime
from gateway.services import audit
from gateway.services.schools import import_gias
from gateway.settings import Settings
from tests.conftest import Gateway
from tests.factories import feed_json, pupil, write_gias

DAYS = [dt.date(2019, 1, 14), dt.date(2025, 10, 6)]  # academic years 2018/19 (past retention) and 2025/26
AS_OF = "2025-11-01"


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@contextmanager
def running(settings: Settings) -> Iterator[Gateway]:
    runtime = build_runtime(settings)
    try:
        with TestClient(create_app(settings, runtime=runtime), raise_server_exceptions=False) as client:
            yield Gateway(settings=settings, runtime=runtime, client=client)
    finally:
        runtime.engine.dispose()


def _fill(gw: Gateway, tmp_path: Path) -> None:
    import_gias(gw.runtime.sessions, write_gias(tmp_path / "gias.csv"))
    headers = {"Content-Type": "application/json", **gw.auth("school", 100001, "feed_submitter")}
    for day in DAYS:
        r = gw.client.put(f"/v1/schools/100001/attendance/{day.isoformat()}",
                          content=feed_json([pupil(1), pupil(2, am="I", pm="I")]), headers=headers)
        assert r.status_code == 201, r.text


def _pupils(gw: Gateway, start: str, end: str) -> list[str]:
    r = gw.client.get(f"/v1/schools/100001/pupils?from={start}&to={end}",
                      headers=gw.auth("school", 100001, "attendance_officer"))
    assert r.status_code == 200, r.text
    return sorted(p["upn"] for p in r.json()["pupils"])


def _cli(settings: Settings, *args: str, master_key: str | None = None) -> tuple[int, str]:
    env = {"GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_DATABASE_URL": settings.database_url}
    if master_key is not None:
        env["GATEWAY_MASTER_KEY"] = master_key
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_with_an_environment_master_key_retention_shreds_only_once_a_new_master_key_is_given(
    database_url: str, tmp_path: Path
) -> None:
    old, new = _b64(new_key()), _b64(new_key())
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", env="dev", master_key=old)
    initialise(settings)
    assert not (settings.data_dir / "master").exists()  # nothing of the master key is written
    with running(settings) as gw:
        _fill(gw, tmp_path)
    backup = tmp_path / "keys-backup"
    shutil.copytree(settings.data_dir / "keys", backup)

    code, out = _cli(settings, "retention", "run", "--as-of", AS_OF, master_key=old)
    assert code == 0, out
    refused = json.loads(out)
    assert refused["shredded_years"] == []
    assert [r["academic_year"] for r in refused["refused_years"]] == [2018]
    assert "GATEWAY_MASTER_KEY" in refused["refused_years"][0]["reason"]
    with running(settings) as gw:
        assert len(_pupils(gw, "2019-01-01", "2019-01-31")) == 2  # nothing of the year was deleted
        with gw.runtime.sessions() as db:
            marks = select(func.count()).select_from(Mark).where(Mark.academic_year == 2018)
            assert db.execute(marks).scalar_one() == 2
        events = gw.client.get("/v1/audit/events?action=retention.shred_refused",
                               headers=gw.auth("operator", "operator", "dpo")).json()["events"]
        assert [e["event"]["decision"] for e in events] == ["deny"]

    code, out = _cli(settings, "retention", "run", "--as-of", AS_OF, master_key=f"{new},{old}")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["shredded_years"] == [2018] and summary["refused_years"] == []
    old_id = master_key_id(base64.b64decode(old))
    assert summary["retired_master_key_ids"] == [old_id]
    # The operator then keeps the new key alone: the live year reads, the shredded one does not, and the
    # copy of keys/ taken before needs the old key, which the operator destroys.
    with running(settings.model_copy(update={"master_key": SecretStr(new)})) as gw:
        assert len(_pupils(gw, "2025-10-01", "2025-10-31")) == 2
        assert _pupils(gw, "2019-01-01", "2019-01-31") == []
        copy = YearKeys(backup, gw.runtime.keys.master)
        entry = json.loads((backup / "years" / "2018.json").read_text())
        assert entry["master_id"] == old_id
        with pytest.raises(KeyUnavailable):
            copy.get(entry["id"])


def test_rotating_an_environment_master_key_needs_the_new_key_beside_the_old(
    database_url: str, tmp_path: Path
) -> None:
    old, new = _b64(new_key()), _b64(new_key())
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", env="dev", master_key=old)
    initialise(settings)
    with running(settings) as gw:
        _fill(gw, tmp_path)
    refused = CliRunner().invoke(main, ["keys", "rotate-master"], env={
        "GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_MASTER_KEY": old})
    assert refused.exit_code != 0 and "'new,old'" in refused.output
    code, out = _cli(settings, "keys", "rotate-master", master_key=f"{new},{old}")
    assert code == 0, out
    assert json.loads(out)["year_keys_rewrapped"] == 2
    with running(settings.model_copy(update={"master_key": SecretStr(new)})) as gw:
        assert len(_pupils(gw, "2025-10-01", "2025-10-31")) == 2


def _to_old_layout(data_dir: Path) -> dict[str, dict[str, str]]:
    """The key files as the gateway wrote them before year keys had a file each."""
    keys = data_dir / "keys"
    old: dict[str, dict[str, str]] = {}
    for path in sorted((keys / "years").glob("*.json")):
        old[path.stem] = json.loads(path.read_text())
    shutil.rmtree(keys / "years")
    (keys / "legacy-audit.json").unlink(missing_ok=True)
    shredded = {"2017": {"id": "y2017-00000000", "shredded_at": "2025-01-01"}}
    everything: dict[str, object] = {**old, "_shredded": shredded}
    (keys / "year-keys.json").write_text(json.dumps(everything))
    shutil.move(data_dir / "master" / "master-keys.json", keys / "master-keys.json")
    (data_dir / "master").rmdir()
    return old


@pytest.mark.parametrize("how", ["start", "init"])
def test_a_data_directory_with_the_old_year_keys_file_is_converted_and_reads_as_before(
    database_url: str, tmp_path: Path, how: str
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", env="dev")
    initialise(settings)
    with running(settings) as gw:
        _fill(gw, tmp_path)
        before = _pupils(gw, "2025-10-01", "2025-10-31")
        keys = gw.runtime.keys
        # A release recorded before audit pseudonyms were per year: under the permanent key.
        legacy_ref = audit_pseudonym(pupil_id(pupil(2)["upn"], keys.pupil_id_key), keys.audit_key)
        with transaction(gw.runtime.sessions) as db:
            audit.record(db, audit.new_event(
                None, "release.decided", purpose="la-severe-absence", decision="allow",
                subject_org_ids=["202"], record_count=1, release_id="rel-legacy", pupil_refs=[legacy_ref],
                details={"fields": ["upn"], "expires_at": "2026-10-06T00:00:00Z"},
                actor={"org_type": "la", "org_id": "202", "sub": "officer-9"}))
    old = _to_old_layout(settings.data_dir)
    assert sorted(old) == ["2018", "2025"]

    if how == "init":
        initialise(settings)
    with running(settings) as gw:
        assert _pupils(gw, "2025-10-01", "2025-10-31") == before
        found = gw.client.post("/v1/audit/subject-access", json={"upn": pupil(2)["upn"]},
                               headers=gw.auth("operator", "operator", "dpo")).json()["releases"]
        assert [r["release_id"] for r in found] == ["rel-legacy"]
    keys_dir = settings.data_dir / "keys"
    assert not (keys_dir / "year-keys.json").exists() and not (keys_dir / "master-keys.json").exists()
    for year, entry in old.items():
        assert json.loads((keys_dir / "years" / f"{year}.json").read_text()) == entry
        assert _mode(keys_dir / "years" / f"{year}.json") == 0o600
    assert json.loads((keys_dir / "shredded-years.json").read_text())["2017"]["id"] == "y2017-00000000"
    with pytest.raises(KeyUnavailable):
        load_keys(settings).kek_for_year(2017)  # a year shredded before stays shredded
    assert _mode(settings.data_dir / "master" / "master-keys.json") == 0o600
    assert load_master(settings).ring().current_id in {e["master_id"] for e in old.values()}


def test_init_makes_the_data_directory_and_key_folders_0700_and_key_and_database_files_0600(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    settings = Settings(database_url=f"sqlite:///{data / 'gateway.db'}", data_dir=data, env="dev")
    initialise(settings)
    with running(settings) as gw:
        _fill(gw, tmp_path)  # writes year key files and the database, with its -wal and -shm
        db_files = [data / "gateway.db", data / "gateway.db-wal", data / "gateway.db-shm"]
        assert all(p.exists() for p in db_files)
        assert {p.name: _mode(p) for p in db_files} == {p.name: 0o600 for p in db_files}
    folders = [data, data / "keys", data / "keys" / "years", data / "master", data / "audit-keys",
               data / "dev-idp"]
    assert {str(p): _mode(p) for p in folders} == {str(p): 0o700 for p in folders}
    key_files = [p for folder in folders[1:] for p in folder.iterdir() if p.is_file()]
    assert len(key_files) >= 6
    assert {str(p): _mode(p) for p in key_files} == {str(p): 0o600 for p in key_files}


def test_init_narrows_the_modes_of_an_existing_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(database_url=f"sqlite:///{data / 'gateway.db'}", data_dir=data, env="dev")
    initialise(settings)
    loose = [data, *[p for p in data.rglob("*")]]
    for path in loose:
        path.chmod(0o755 if path.is_dir() else 0o644)
    initialise(settings)
    assert _mode(data) == 0o700 and _mode(data / "gateway.db") == 0o600
    for path in loose:
        if path.is_dir():
            assert _mode(path) == 0o700, path
        elif path.parent != data or path.name.startswith("gateway.db"):
            assert _mode(path) == 0o600, path
    assert os.access(data / "keys" / "pseudonym.key", os.R_OK)
