"""PostgreSQL's partitions by academic year: data keys, identities, rosters and packed registers live in
one partition a year, retention drops the year's partitions, and the rows leave the data files at
once: a pupil's encrypted identity is found in the relation's files before the run and in none of
the table's files after it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.db import partitions
from tests.conftest import BACKENDS, Gateway
from tests.integration.test_retention import AS_OF, cli

POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]
pytestmark = pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)


def relation_files(gw: Gateway, table: str) -> list[Path]:
    with gw.runtime.engine.connect() as conn:
        return partitions.data_files(conn, table)


def holds(files: list[Path], needle: bytes) -> bool:
    return any(needle in f.read_bytes() for f in files if f.exists())


def test_each_personal_table_is_partitioned_by_year_with_a_default(own: Gateway) -> None:
    with own.runtime.engine.connect() as conn:
        assert partitions.is_partitioned(conn)
        for table in partitions.TABLES:
            kids = set(conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits "
                                         "WHERE inhparent = CAST(:t AS regclass)"), {"t": table}).scalars())
            assert {f"{table}_y2018", f"{table}_y2025", f"{table}_default"} <= kids, table
        # The registers of 2018/19 and of 2025/26 are each in their year's partition.
        assert conn.execute(text("SELECT count(*) FROM registers_y2018")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM registers_y2025")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM registers_default")).scalar_one() == 0
        # Made again, a year's partitions are not made twice; a later year's are made ahead.
        assert partitions.ensure(conn, [2025]) == []


def test_retention_drops_the_years_partitions_and_its_ciphertext_leaves_the_data_files(own: Gateway) -> None:
    with own.runtime.engine.connect() as conn:
        one = text("SELECT ciphertext FROM pupil_identities WHERE academic_year = 2018 LIMIT 1")
        planted = bytes(conn.execute(one).scalar_one())
    assert len(planted) >= 32
    before = relation_files(own, "pupil_identities")
    assert holds(before, planted)
    began = time.perf_counter()
    code, out = cli(own, "retention", "run", "--as-of", AS_OF)
    elapsed = time.perf_counter() - began
    assert code == 0, out
    summary = json.loads(out)
    assert summary["shredded_years"] == [2018]
    assert {f"{t}_y2018" for t in partitions.TABLES} == set(summary["dropped_partitions"])
    assert elapsed < 5
    after = relation_files(own, "pupil_identities")
    assert after and not holds(after, planted)
    assert not any(f.exists() for f in set(before) - set(after))
    with own.runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('pupil_identities_y2018')")).scalar_one() is None
        kept = text("SELECT count(*) FROM pupil_identities WHERE academic_year = 2025")
        assert conn.execute(kept).scalar_one() == 3
    # The audit event says which partitions went.
    code, out = cli(own, "audit", "verify")
    assert code == 0, out
