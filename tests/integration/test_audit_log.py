"""The audit log in the database: what an append stores, append-only tables, and `audit verify`
catching an attacker who goes round the gateway straight to the database."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from audit.canonical import canonical_bytes
from audit.events import event_bytes
from audit.merkle import InMemoryNodes, leaf_hash
from gateway.keys.signing import ensure_signing_key, signing_keys
from gateway.cli import main
from gateway.db.migrate import downgrade, upgrade
from gateway.db.repositories import audit as audit_repo
from gateway.db.session import make_engine, make_sessionmaker, normalise_url, transaction
from gateway.services import audit
from gateway.services.audit.trail import sign_head
from gateway.services.audit.verify import verify_database
from tests.conftest import BACKENDS

APPEND_ONLY = ("audit_events", "audit_event_orgs", "audit_nodes", "audit_tree_heads", "audit_pupil_sets",
               "audit_event_pupil_sets")
ACTOR = {"org_type": "la", "org_id": "202", "sub": "officer-1"}


# --- helpers shared with the other audit tests ----------------------------------------------------


def an_event(n: int, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "actor": ACTOR,
        "purpose": "la-targeting-support",
        "decision": "allow" if n % 3 else "deny",
        "subject_org_ids": ["202", "100001"],
        "record_count": n,
        "release_id": f"rel-{n:04d}",
        "details": {"n": n},
        "pupil_refs": [f"ap_test{n:04d}", "ap_shared"],
    }
    values.update(overrides)
    return audit.new_event(None, values.pop("action", "release.decided"), **values)


def append(sessions: sessionmaker[Session], count: int, start: int = 0, **overrides: Any) -> list[int]:
    """Append events numbered ``start, start + 1, ...`` (their number is in ``details.n``)."""
    indices = []
    for n in range(start, start + count):
        with transaction(sessions) as db:
            indices.append(audit.record(db, an_event(n, **overrides)))
    return indices


@contextmanager
def as_attacker(url: str) -> Iterator[Engine]:
    """A connection with the append-only triggers out of the way, as someone with the database's
    owner rights could arrange; the triggers are put back afterwards (PostgreSQL) or left dropped."""
    engine = create_engine(normalise_url(url))
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        for table in APPEND_ONLY:
            if pg:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            else:
                for operation in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{operation}"))
    try:
        yield engine
    finally:
        if pg:
            with engine.begin() as conn:
                for table in APPEND_ONLY:
                    conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        engine.dispose()


@pytest.fixture
def own_data_dir(data_dir: Path, tmp_path: Path) -> Path:
    """A copy of the session's data directory, for tests that change its signing keys."""
    folder = tmp_path / "own-data"
    shutil.copytree(data_dir, folder)
    return folder


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def build_log(
    sessions: sessionmaker[Session], data_dir: Path, sizes: tuple[int, ...] = (3, 8, 9, 14, 20)
) -> None:
    """A log with a signed head at each of ``sizes``."""
    keys = signing_keys(data_dir)
    done = 0
    for size in sizes:
        append(sessions, size - done, start=done)
        done = size
        assert sign_head(sessions, keys).tree_size == size


def verify(database_url: str, data_dir: Path) -> dict[str, Any]:
    return verify_database(database_url, signing_keys(data_dir).public_keys(), batch=7).as_json()


# --- what an append stores ------------------------------------------------------------------------


def test_every_append_stores_exactly_the_complete_subtrees_an_in_memory_tree_has(
    sessions: sessionmaker[Session],
) -> None:
    append(sessions, 37)
    reference = InMemoryNodes()
    with sessions() as db:
        entries = [bytes(e) for (e,) in db.execute(text("SELECT entry FROM audit_events ORDER BY idx"))]
        stored = {
            (int(lv), int(ix)): bytes(h)
            for lv, ix, h in db.execute(text("SELECT level, idx, hash FROM audit_nodes"))
        }
        size = db.execute(text("SELECT tree_size FROM audit_state")).scalar_one()
    reference.extend(entries)
    assert size == 37
    assert stored == dict(reference.nodes)
    assert stored[(0, 36)] == leaf_hash(entries[36])


def test_an_append_indexes_the_pupils_it_names_by_audit_pseudonym(sessions: sessionmaker[Session]) -> None:
    append(sessions, 3)
    with sessions() as db:
        rows = {(ref, idx) for idx, ref in audit_repo.event_pupil_ref_rows(db, 0, 3)}
        packed = db.execute(text("SELECT pupils, refs FROM audit_pupil_sets")).all()
    # One row per event, its pseudonyms sorted between line feeds.
    assert sorted(packed) == [(2, f"\nap_shared\nap_test{n:04d}\n") for n in range(3)]
    assert rows == {
        ("ap_test0000", 0),
        ("ap_test0001", 1),
        ("ap_test0002", 2),
        ("ap_shared", 0),
        ("ap_shared", 1),
        ("ap_shared", 2),
    }


# --- append-only at the database level ------------------------------------------------------------


REFUSED = [
    "UPDATE audit_events SET action = 'feed.accepted' WHERE idx = 1",
    "DELETE FROM audit_events WHERE idx = 1",
    "DELETE FROM audit_events",
    "UPDATE audit_event_orgs SET org_id = '999'",
    "DELETE FROM audit_event_orgs WHERE idx = 0",
    "UPDATE audit_nodes SET hash = hash WHERE level = 0 AND idx = 0",
    "DELETE FROM audit_nodes WHERE level = 1",
    "UPDATE audit_tree_heads SET tree_size = 99",
    "DELETE FROM audit_tree_heads",
    "UPDATE audit_pupil_sets SET refs = 'ap_other'",
    "DELETE FROM audit_pupil_sets WHERE pupils > 0",
    "UPDATE audit_event_pupil_sets SET set_id = set_id + 1",
    "DELETE FROM audit_event_pupil_sets WHERE idx = 2",
]


def test_the_database_refuses_to_update_or_delete_audit_rows(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir, sizes=(3,))
    engine = create_engine(normalise_url(database_url))
    for statement in REFUSED:
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    engine.dispose()
    assert verify(database_url, data_dir)["ok"] is True


# SQLite has no TRUNCATE (its DELETE trigger covers a DELETE of every row): PostgreSQL only, which
# CI always has (GATEWAY_TEST_POSTGRES_URL); without it the parameter set is empty.
@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_postgresql_refuses_to_truncate_audit_tables(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    append(sessions, 2)
    engine = create_engine(normalise_url(database_url))
    for table in APPEND_ONLY:
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table}"))
    engine.dispose()


def test_the_log_size_row_stays_updatable(sessions: sessionmaker[Session]) -> None:
    append(sessions, 2)
    with transaction(sessions) as db:
        db.execute(text("UPDATE audit_state SET tree_size = tree_size WHERE id = 1"))


def test_the_migration_backfills_nodes_and_pupils_for_a_log_begun_before_it(database_url: str) -> None:
    downgrade(database_url, "0001")
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    entries = []
    with transaction(sessions) as db:
        for n in range(11):  # the 0001 append: event and size; no nodes
            entry = event_bytes(an_event(n))
            entries.append(entry)
            db.execute(
                text(
                    "INSERT INTO audit_events (idx, occurred_at, action, actor_org_type, actor_org_id, entry, leaf_hash) "
                    "VALUES (:i, :t, 'release.decided', 'la', '202', :e, :h)"
                ),
                {"i": n, "t": "2025-01-01 00:00:00.000000", "e": entry, "h": leaf_hash(entry)},
            )
        db.execute(text("UPDATE audit_state SET tree_size = 11"))
    upgrade(database_url)
    reference = InMemoryNodes()
    reference.extend(entries)
    with sessions() as db:
        stored = {
            (int(lv), int(ix)): bytes(h)
            for lv, ix, h in db.execute(text("SELECT level, idx, hash FROM audit_nodes"))
        }
        refs = sum(ref == "ap_shared" for _, ref in audit_repo.event_pupil_ref_rows(db, 0, 11))
    engine.dispose()
    assert stored == dict(reference.nodes)
    assert refs == 11


def test_migration_0008_moves_the_pupil_index_to_pupil_sets_and_back(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    """Events appended under 0007 (one audit_pupil_refs row per pupil and event) keep their pupils
    after 0008 (their index as set id), verify, and are found by pupil; appends after the upgrade
    draw set ids of their own; and a downgrade puts every row back."""
    build_log(sessions, data_dir, sizes=(6,))
    downgrade(database_url, "0007")
    with sessions() as db:
        before = set(db.execute(text("SELECT pupil_ref, idx FROM audit_pupil_refs")).all())
    assert before == {(f"ap_test{n:04d}", n) for n in range(6)} | {("ap_shared", n) for n in range(6)}
    upgrade(database_url)
    append(sessions, 3, start=6)
    assert verify(database_url, data_dir)["ok"] is True
    with sessions() as db:
        sets = dict(db.execute(text("SELECT idx, set_id FROM audit_event_pupil_sets")).all())
        rows = {(ref, idx) for idx, ref in audit_repo.event_pupil_ref_rows(db, 0, 9)}
    assert {idx: sets[idx] for idx in range(6)} == {n: n for n in range(6)}
    assert all(sets[idx] >= 2**62 for idx in range(6, 9))
    assert rows == before | {(f"ap_test{n:04d}", n) for n in range(6, 9)} | {("ap_shared", n) for n in range(6, 9)}
    downgrade(database_url, "0007")
    with sessions() as db:
        after = set(db.execute(text("SELECT pupil_ref, idx FROM audit_pupil_refs")).all())
    upgrade(database_url)
    assert after == rows


# --- verify ---------------------------------------------------------------------------------------


def test_an_untouched_log_verifies(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    report = verify(database_url, data_dir)
    assert report["ok"] is True, report["problems"]
    assert (report["tree_size"], report["events_checked"], report["heads_checked"]) == (20, 20, 5)
    assert report["first_bad_index"] is None and report["problem_count"] == 0
    assert report["nodes_checked"] == sum(20 >> level for level in range(5))


def test_changing_one_byte_of_one_stored_event_is_caught_at_its_index(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    with as_attacker(database_url) as engine, engine.begin() as conn:
        entry = bytearray(conn.execute(text("SELECT entry FROM audit_events WHERE idx = 11")).scalar_one())
        entry[entry.index(b'"n":11') + 5] = ord("2")  # "n":11 -> "n":12, still a well-formed event
        conn.execute(text("UPDATE audit_events SET entry = :e WHERE idx = 11"), {"e": bytes(entry)})
    report = verify(database_url, data_dir)
    assert report["ok"] is False
    assert report["first_bad_index"] == 11
    assert any(p["index"] == 11 and "leaf hash" in p["message"] for p in report["problems"])
    # Every head after the change disagrees with the log; the ones before still hold.
    assert {p["tree_size"] for p in report["problems"] if p["kind"] == "head"} == {14, 20}
    assert report["first_bad_head"] == 14


def test_deleting_one_stored_event_is_caught_at_its_index(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    with as_attacker(database_url) as engine, engine.begin() as conn:
        for table in ("audit_events", "audit_event_orgs", "audit_event_pupil_sets"):
            conn.execute(text(f"DELETE FROM {table} WHERE idx = 6"))
    report = verify(database_url, data_dir)
    assert report["ok"] is False and report["first_bad_index"] == 6
    assert "event 6 is missing" in report["problems"][0]["message"]


def test_deleting_the_last_events_and_shrinking_the_size_is_caught_by_the_heads(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    with as_attacker(database_url) as engine, engine.begin() as conn:
        for table in ("audit_events", "audit_event_orgs", "audit_event_pupil_sets"):
            conn.execute(text(f"DELETE FROM {table} WHERE idx >= 16"))
        conn.execute(text("DELETE FROM audit_nodes WHERE ((idx + 1) << level) > 16"))
        conn.execute(text("UPDATE audit_state SET tree_size = 16"))
    report = verify(database_url, data_dir)
    assert report["ok"] is False
    assert report["first_bad_index"] == 14 and report["first_bad_head"] == 20


def test_reordering_two_stored_events_is_caught_at_the_first_of_them(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    with as_attacker(database_url) as engine, engine.begin() as conn:
        for table in ("audit_events", "audit_event_orgs", "audit_event_pupil_sets"):
            conn.execute(text(f"UPDATE {table} SET idx = -1 WHERE idx = 10"))
            conn.execute(text(f"UPDATE {table} SET idx = 10 WHERE idx = 13"))
            conn.execute(text(f"UPDATE {table} SET idx = 13 WHERE idx = -1"))
    report = verify(database_url, data_dir)
    assert report["ok"] is False and report["first_bad_index"] == 10
    assert report["problems"][0]["index"] == 10 and "Merkle node" in report["problems"][0]["message"]


def test_verifying_with_worker_processes_finds_the_same_problems(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    with as_attacker(database_url) as engine, engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET decision = 'allow' WHERE idx = 12"))
        conn.execute(text("DELETE FROM audit_event_orgs WHERE idx = 15"))
    keys = signing_keys(data_dir).public_keys()
    alone = verify_database(database_url, keys, batch=4).as_json()
    shared = verify_database(database_url, keys, batch=4, workers=2).as_json()
    for report in (alone, shared):
        report.pop("seconds"), report.pop("events_per_second")
    assert shared == alone
    assert alone["first_bad_index"] == 12 and "decision" in alone["problems"][0]["message"]
    assert alone["problems"][1]["index"] == 15


def test_replacing_a_heads_signature_is_caught_naming_the_head(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    with as_attacker(database_url) as engine, engine.begin() as conn:
        other = conn.execute(text("SELECT signature FROM audit_tree_heads WHERE tree_size = 8")).scalar_one()
        conn.execute(text("UPDATE audit_tree_heads SET signature = :s WHERE tree_size = 9"), {"s": other})
    report = verify(database_url, data_dir)
    assert report["ok"] is False
    assert report["first_bad_head"] == 9 and report["first_bad_index"] is None
    assert len(report["problems"]) == 1 and "does not verify" in report["problems"][0]["message"]


def test_rewriting_an_event_with_every_stored_hash_is_still_caught_by_the_signed_heads(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    with as_attacker(database_url) as engine, engine.begin() as conn:
        entries = [bytes(e) for (e,) in conn.execute(text("SELECT entry FROM audit_events ORDER BY idx"))]
        event = json.loads(entries[17])
        event["details"]["n"] = 18
        entries[17] = forged = canonical_bytes(event)
        tree = InMemoryNodes()
        tree.extend(entries)
        conn.execute(
            text("UPDATE audit_events SET entry = :e, leaf_hash = :h WHERE idx = 17"),
            {"e": forged, "h": leaf_hash(forged)},
        )
        conn.execute(text("DELETE FROM audit_nodes"))
        conn.execute(
            text("INSERT INTO audit_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
            [{"l": lv, "i": ix, "h": h} for (lv, ix), h in tree.nodes.items()],
        )
    report = verify(database_url, data_dir)
    assert report["ok"] is False
    assert report["first_bad_head"] == 20
    assert report["first_bad_index"] == 14  # the change lies after the last head that still matches
    assert all(p["kind"] == "head" for p in report["problems"])


def test_hiding_a_pupil_from_subject_access_is_caught(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir)
    with as_attacker(database_url) as engine, engine.begin() as conn:
        conn.execute(text("UPDATE audit_pupil_sets SET refs = replace(refs, :ref, :lf), pupils = pupils - 1 "
                          "WHERE set_id = (SELECT set_id FROM audit_event_pupil_sets WHERE idx = 6)"),
                     {"ref": "\nap_test0006\n", "lf": "\n"})
    report = verify(database_url, data_dir)
    assert report["ok"] is False and report["first_bad_index"] == 6
    assert "pupils indexed" in report["problems"][0]["message"]


def test_an_event_slipped_in_beyond_the_recorded_size_is_caught(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir, sizes=(4,))
    with as_attacker(database_url) as engine, engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (idx, occurred_at, action, actor_org_type, actor_org_id, entry, leaf_hash) "
                "SELECT 7, occurred_at, action, actor_org_type, actor_org_id, entry, leaf_hash FROM audit_events WHERE idx = 0"
            )
        )
    report = verify(database_url, data_dir)
    assert report["ok"] is False and report["first_bad_index"] == 7


# --- the command line -----------------------------------------------------------------------------


def _env(database_url: str, data_dir: Path) -> dict[str, str]:
    return {"GATEWAY_DATABASE_URL": database_url, "GATEWAY_DATA_DIR": str(data_dir)}


def test_audit_verify_exits_zero_only_when_the_log_holds(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    build_log(sessions, data_dir, sizes=(6, 9))
    runner = CliRunner()
    good = runner.invoke(main, ["audit", "verify"], env=_env(database_url, data_dir))
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["ok"] is True
    with as_attacker(database_url) as engine, engine.begin() as conn:
        entry = conn.execute(text("SELECT entry FROM audit_events WHERE idx = 4")).scalar_one()
        conn.execute(text("UPDATE audit_events SET entry = :e WHERE idx = 4"), {"e": bytes(entry) + b" "})
    bad = runner.invoke(main, ["audit", "verify"], env=_env(database_url, data_dir))
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["first_bad_index"] == 4
    assert "first bad index 4" in bad.stderr


def test_an_export_verifies_offline_and_a_tampered_export_does_not(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    build_log(sessions, data_dir, sizes=(5, 11))
    append(sessions, 3, start=11)  # the export signs a head covering these too
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(main, ["audit", "export", str(out)], env=_env(database_url, data_dir))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tree_size"] == 14
    lines = (out / "events.jsonl").read_bytes().splitlines()
    assert len(lines) == 14 and all(json.loads(line)["actor"] == ACTOR for line in lines)
    assert [json.loads(h)["tree_size"] for h in (out / "tree-heads.jsonl").read_text().splitlines()] == [
        5,
        11,
        14,
    ]
    offline = {
        "GATEWAY_DATABASE_URL": "sqlite:///" + str(tmp_path / "nothing-here.db"),
        "GATEWAY_DATA_DIR": str(tmp_path / "none"),
    }
    ok = runner.invoke(main, ["audit", "verify", "--export", str(out)], env=offline)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["heads_checked"] == 3
    lines[7] = lines[7].replace(b'"n":7', b'"n":8')
    (out / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    bad = runner.invoke(main, ["audit", "verify", "--export", str(out)], env=offline)
    assert bad.exit_code == 1 and json.loads(bad.stdout)["first_bad_index"] == 5


def test_an_export_checked_against_keys_that_did_not_sign_it_fails(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    build_log(sessions, data_dir, sizes=(3,))
    runner = CliRunner()
    out = tmp_path / "export"
    assert runner.invoke(main, ["audit", "export", str(out)], env=_env(database_url, data_dir)).exit_code == 0
    stranger = tmp_path / "stranger"  # a data directory with a key of its own
    ensure_signing_key(stranger)
    pinned = tmp_path / "pinned.json"
    pinned.write_text(json.dumps(signing_keys(stranger).jwks()))
    result = runner.invoke(
        main,
        ["audit", "verify", "--export", str(out), "--keys", str(pinned)],
        env=_env(database_url, data_dir),
    )
    assert result.exit_code == 1
    assert "never published" in json.loads(result.stdout)["problems"][0]["message"]


def test_rotating_the_signing_key_keeps_old_heads_verifiable(
    sessions: sessionmaker[Session], database_url: str, own_data_dir: Path
) -> None:
    build_log(sessions, own_data_dir, sizes=(4,))
    old_id, _ = signing_keys(own_data_dir).current
    runner = CliRunner()
    result = runner.invoke(main, ["audit", "rotate-key"], env=_env(database_url, own_data_dir))
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.stdout)
    new_id = rotated["key_id"]
    assert rotated["previous_key_id"] == old_id != new_id
    # The rotation is logged, and both keys vouch for the log that includes it.
    assert [h["key_id"] for h in rotated["heads"]] == [old_id, new_id]
    assert {h["tree_size"] for h in rotated["heads"]} == {5}
    assert not (own_data_dir / "audit-keys" / f"{old_id}.pem").exists()
    jwks = signing_keys(own_data_dir).jwks()
    assert [k["kid"] for k in jwks["keys"]] == [new_id, old_id]
    assert jwks["keys"][1]["retired_at"] is not None
    append(sessions, 2)
    assert sign_head(sessions, signing_keys(own_data_dir)).key_id == new_id
    report = verify(database_url, own_data_dir)
    assert report["ok"] is True, report["problems"]
    assert report["heads_checked"] == 4
    with sessions() as db:
        entry = json.loads(db.execute(text("SELECT entry FROM audit_events WHERE idx = 4")).scalar_one())
    assert entry["action"] == "keys.rotated" and entry["details"]["key_id"] == new_id
