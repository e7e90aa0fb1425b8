"""PostgreSQL's partitions by academic year, for the tables that hold a year's personal data.

The data keys, encrypted identities, rosters and packed registers are declared partitioned by list
of ``academic_year`` (migration 0019), one partition a year (``<table>_y2025``) and a default one for
a year that has none yet. Retention drops a year's partitions: their files are unlinked at commit,
so the year's rows leave the data files at once, with no ``VACUUM FULL`` of a national table.
SQLite has no partitions: it deletes the rows, with ``secure_delete`` overwriting them.

Partitions are made ahead of the data (the migration, and every retention run, make this academic
year's and the next two), because creating one while registers arrive would take a lock on the parent
that every register waits for.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, text

#: Partitioned by academic year on PostgreSQL, in the order retention drops them.
TABLES = ("data_keys", "pupil_identities", "registers", "register_history", "rosters")
_PARTITION = re.compile(r"^(?:%s)_(?:y[0-9]{4}|default)$" % "|".join(TABLES))  # noqa: UP031


def partition_name(table: str, academic_year: int) -> str:
    if table not in TABLES or not 1900 <= academic_year <= 9999:
        raise ValueError("a partition of one of the partitioned tables, for a real year")
    return f"{table}_y{academic_year}"


def is_partition(name: str) -> bool:
    """Whether a table name is one of our partitions (schema comparisons list only the parents)."""
    return bool(_PARTITION.match(name))


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """For Alembic's autogenerate: compare the partitioned tables, not their partitions."""
    return not (type_ == "table" and name is not None and is_partition(name))


def _exists(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar_one()


def is_partitioned(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = 'pupil_identities')")).scalar_one())


def ensure(conn: Connection, years: list[int]) -> list[str]:
    """Make the partitions of `years` that are missing; returns those made. A year whose rows are
    already in the default partition keeps them there (a new partition would have to move them)."""
    if not is_partitioned(conn):
        return []
    made = []
    for year in years:
        for table in TABLES:
            name = partition_name(table, year)
            if _exists(conn, name):
                continue
            waiting = conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table}_default "  # noqa: S608
                                        "WHERE academic_year = :y)"), {"y": year}).scalar_one()
            if waiting:
                continue
            conn.execute(text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES IN ({int(year)})"))
            made.append(name)
    return made


def drop_year(conn: Connection, academic_year: int) -> list[str]:
    """Drop the year's partitions (the rows of a year kept in a default partition are left for the
    caller's delete); returns the partitions dropped."""
    if not is_partitioned(conn):
        return []
    dropped = []
    for table in TABLES:
        name = partition_name(table, academic_year)
        if _exists(conn, name):
            conn.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped


def data_files(conn: Connection, table: str) -> list[Path]:
    """The files that hold a table's rows on this PostgreSQL server: its own, its partitions' and their
    TOAST tables' segments, after a checkpoint (so that they hold what is committed). For showing that
    retention leaves no copy in them; reading them needs the server's file system."""
    conn.execute(text("CHECKPOINT"))
    root = Path(conn.execute(text("SHOW data_directory")).scalar_one())
    kids = conn.execute(text("SELECT inhrelid FROM pg_inherits WHERE inhparent = CAST(:t AS regclass)"),
                        {"t": table}).scalars().all()
    oids = [conn.execute(text("SELECT CAST(:t AS regclass)::oid"), {"t": table}).scalar_one(), *kids]
    toasts = text("SELECT reltoastrelid FROM pg_class WHERE oid = ANY(:o) AND reltoastrelid <> 0")
    toast = conn.execute(toasts, {"o": oids}).scalars().all()
    files: list[Path] = []
    for rel in conn.execute(text("SELECT pg_relation_filepath(oid) FROM pg_class WHERE oid = ANY(:o)"),
                            {"o": [*oids, *toast]}).scalars():
        if rel:
            files += sorted((root / rel).parent.glob((root / rel).name + "*"))
    return files
