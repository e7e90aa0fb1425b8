"""Benchmark the audit log: concurrent appends, proofs at 1 and 10 million entries, `audit verify`.

    python bench/audit.py                 # PostgreSQL ($GATEWAY_BENCH_POSTGRES_URL) and SQLite
    python bench/audit.py --backend sqlite --sizes 1000000
    python bench/audit.py --skip-proofs --verify-entries 500000

What each figure means:

- append rate: W processes, each its own gateway engine, append events at once through
  `gateway.services.audit.record` (one transaction per event, as a request does); appends/s over
  all of them, and the latency of one append.
- proof time: the node table is built synthetically (random leaf hashes, every complete subtree
  above them computed and bulk-loaded: COPY on PostgreSQL, executemany on SQLite) to the stated
  size, then random inclusion and consistency proofs are served by `gateway.services.audit.trail`
  (transaction, one indexed query for O(log n) rows, the arithmetic); each is checked against the
  root. Target: under 5 ms per proof.
- verify rate: a log of real events (canonical entries, organisation and pupil index rows, nodes,
  signed heads) is bulk-loaded, then `gateway audit verify` runs over it: entries/s.

Databases are created for the run and dropped afterwards (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.events import AuditEvent, event_bytes  # noqa: E402
from gateway.db.repositories import audit as audit_repo  # noqa: E402
from audit.heads import sign_tree_head  # noqa: E402
from audit.merkle import (  # noqa: E402
    EMPTY_ROOT,
    leaf_hash,
    new_nodes_on_append,
    node_hash,
    nodes_for_root,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from gateway.keys.signing import ensure_signing_key, signing_keys  # noqa: E402
from gateway.db.migrate import upgrade  # noqa: E402
from gateway.db.repositories import audit as audit_repo  # noqa: E402
from gateway.db.session import make_engine, make_sessionmaker, normalise_url, transaction  # noqa: E402
from gateway.services import audit  # noqa: E402
from gateway.services.audit import trail as audit_log  # noqa: E402
from gateway.services.audit.verify import verify_database  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201  (a bench prints its figures)


def quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


# --- databases ------------------------------------------------------------------------------------


class Databases:
    def __init__(self, backend: str, pg_url: str, workdir: Path, keep: bool):
        self.backend, self.pg_url, self.workdir, self.keep = backend, normalise_url(pg_url), workdir, keep
        self.created: list[str] = []

    def fresh(self, label: str) -> str:
        if self.backend == "sqlite":
            path = self.workdir / f"bench-{label}-{uuid.uuid4().hex[:6]}.db"
            url = f"sqlite:///{path}"
        else:
            name = f"gw_bench_{label}_{uuid.uuid4().hex[:6]}"
            admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            url = make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)
        self.created.append(url)
        upgrade(url)
        return url

    def close(self) -> None:
        if self.keep:
            return
        for url in self.created:
            if url.startswith("sqlite"):
                for suffix in ("", "-wal", "-shm"):
                    Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            else:
                admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
                admin.dispose()


# --- appends --------------------------------------------------------------------------------------


def _event(n: int, worker: int) -> AuditEvent:
    return AuditEvent(
        action="release.decided",
        actor={"org_type": "la", "org_id": f"{200 + worker}", "sub": f"bench-{worker}"},
        occurred_at=dt.datetime.now(dt.UTC),
        purpose="la-targeting-support",
        decision="allow",
        subject_org_ids=[f"{200 + worker}", "100001"],
        record_count=3,
        release_id=f"rel-{worker}-{n}",
        details={"fields": ["pupil_ref", "school_urn"], "expires_at": "2027-01-01T00:00:00Z"},
        pupil_refs=[f"ap_bench{worker}x{n}x{k}" for k in range(3)],
    )


def _appender(url: str, worker: int, count: int, start: Any, results: Any) -> None:
    quiet()
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as db:  # warm the pool and the statement cache
        db.execute(text("SELECT 1"))
    start.wait(120)
    latencies = []
    for n in range(count):
        began = time.perf_counter()
        with transaction(sessions) as db:
            audit.record(db, _event(n, worker))
        latencies.append(time.perf_counter() - began)
    engine.dispose()
    results.put(latencies)


def bench_appends(dbs: Databases, writers: int, appends: int) -> None:
    url = dbs.fresh("append")
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    procs = [
        context.Process(target=_appender, args=(url, w, appends, start, results)) for w in range(writers)
    ]
    for proc in procs:
        proc.start()
    time.sleep(3)  # let every worker import and connect before the clock starts
    began = time.perf_counter()
    start.set()
    latencies = [x for _ in procs for x in results.get(timeout=3600)]
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    total = writers * appends
    report = verify_database(url, {})
    assert report.events_checked == total and report.first_bad_index is None, report.problems[:3]
    latencies.sort()
    say(
        f"[{dbs.backend}] append: {writers} processes x {appends} appends = {total} in {elapsed:.2f} s: "
        f"{total / elapsed:,.0f} appends/s; one append p50 {1000 * latencies[len(latencies) // 2]:.1f} ms, "
        f"p95 {1000 * latencies[int(len(latencies) * 0.95)]:.1f} ms "
        f"(log verified: {report.events_checked} entries)"
    )


# --- synthetic node tables ------------------------------------------------------------------------


class TreeBuilder:
    """The complete subtrees of a growing tree, made leaf by leaf with O(log n) memory."""

    def __init__(self) -> None:
        self.edge: dict[int, tuple[int, bytes]] = {}
        self.size = 0

    def _get(self, level: int, index: int) -> bytes:
        return self.edge[level][1]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        created = new_nodes_on_append(self.size, leaf, self._get)
        for level, index, value in created:
            self.edge[level] = (index, value)
        self.size += 1
        return created

    def root(self) -> bytes:
        size = self.size
        if not size:
            return EMPTY_ROOT
        parts = [self.edge[level][1] for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]
        value = parts.pop()
        for left in reversed(parts):
            value = node_hash(left, value)
        return value


class SyntheticTree:
    """Every complete subtree over ``size`` random leaves, one 32-byte-per-node buffer per level.

    Built level by level (RFC 9162 node hash of each pair below), which is some twenty times faster
    than appending leaf by leaf, so ten million entries take seconds rather than many minutes.
    The nodes of any prefix of the tree are the nodes of the tree that lie inside the prefix.
    """

    def __init__(self, size: int, seed: int = 2026) -> None:
        rng = random.Random(seed)  # noqa: S311  (synthetic leaves)
        step = 1 << 20
        self.levels = [b"".join(rng.randbytes(32 * min(step, size - i)) for i in range(0, size, step))]
        while len(self.levels[-1]) >= 64:
            below = memoryview(self.levels[-1])
            out = bytearray(len(below) // 64 * 32)
            for i in range(len(below) // 64):
                out[32 * i : 32 * i + 32] = hashlib.sha256(b"\x01" + below[64 * i : 64 * i + 64]).digest()
            self.levels.append(bytes(out))

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][32 * index : 32 * index + 32]

    def root(self, size: int) -> bytes:
        return root_hash(size, self.node)

    def rows(self, start: int, end: int) -> Iterator[tuple[int, memoryview, int, int]]:
        """(level, buffer, first, stop): the nodes made by the leaves ``start .. end - 1``."""
        for level, buffer in enumerate(self.levels):
            first, stop = start >> level, end >> level
            if first < stop:
                yield level, memoryview(buffer), first, stop


def load_nodes(url: str, tree: SyntheticTree, start: int, end: int) -> int:
    """Bulk-load the nodes the leaves ``start .. end - 1`` complete (PostgreSQL: COPY, primary key
    rebuilt once afterwards; SQLite: executemany)."""
    loaded = 0
    chunk = 200_000
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA synchronous=OFF")
        for level, buffer, first, stop in tree.rows(start, end):
            conn.executemany(
                "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)",
                ((level, i, bytes(buffer[32 * i : 32 * i + 32])) for i in range(first, stop)),
            )
            loaded += stop - first
        conn.commit()
        conn.close()
        return loaded
    import psycopg

    with psycopg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    ) as conn:
        conn.execute("ALTER TABLE audit_nodes DROP CONSTRAINT pk_audit_nodes")
        with conn.cursor() as cur, cur.copy("COPY audit_nodes (level, idx, hash) FROM STDIN") as copy:
            for level, buffer, first, stop in tree.rows(start, end):
                for a in range(first, stop, chunk):
                    b = min(stop, a + chunk)
                    copy.write(
                        "".join(
                            f"{level}\t{i}\t\\\\x{buffer[32 * i : 32 * i + 32].hex()}\n" for i in range(a, b)
                        )
                    )
                loaded += stop - first
        conn.execute("ALTER TABLE audit_nodes ADD CONSTRAINT pk_audit_nodes PRIMARY KEY (level, idx)")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE audit_nodes")
    return loaded


def _set_size(url: str, size: int) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_state SET tree_size = :n WHERE id = 1"), {"n": size})
    engine.dispose()


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = fn()
    return time.perf_counter() - began, result


def _summary(times: list[float]) -> str:
    ms = sorted(1000 * t for t in times)
    return (
        f"mean {statistics.fmean(ms):.2f} ms, p50 {ms[len(ms) // 2]:.2f} ms, "
        f"p95 {ms[int(len(ms) * 0.95)]:.2f} ms, max {ms[-1]:.2f} ms"
    )


def measure_proofs(backend: str, url: str, size: int, roots: dict[int, bytes], proofs: int) -> None:
    """Random inclusion and consistency proofs at ``size``, each checked against the roots.

    Each set runs twice: the first pass mostly reads pages from disk (a random proof touches some
    ten pages of the lower levels that nothing else has read), the second finds them in memory,
    as a node table sized to fit the database's cache would.
    """
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    rng = random.Random(size)  # noqa: S311
    for _ in range(20):  # warm the pool, the prepared statements and the top of the tree
        audit_log.inclusion(sessions, rng.randrange(size), size)
    indices = [rng.randrange(size) for _ in range(proofs)]
    earlier = [s for s in roots if s < size]
    firsts = [
        rng.choice(earlier) if earlier and rng.random() < 0.5 else rng.randrange(1, size)
        for _ in range(proofs)
    ]
    root, path_length = roots[size], 0
    for label in ("first touch", "again"):
        inclusion_times, consistency_times = [], []
        for index in indices:
            seconds, proof = _timed(lambda index=index: audit_log.inclusion(sessions, index, size))
            inclusion_times.append(seconds)
            path = [bytes.fromhex(p) for p in proof["audit_path"]]
            path_length = max(path_length, len(path))
            assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), index, size, path, root)
        for first in firsts:
            seconds, proof = _timed(lambda first=first: audit_log.consistency(sessions, first, size))
            consistency_times.append(seconds)
            if first in roots:
                assert verify_consistency(
                    first, size, roots[first], root, [bytes.fromhex(p) for p in proof["proof"]]
                )
        say(
            f"[{backend}] {size:,} entries, {label}: inclusion {_summary(inclusion_times)} "
            f"(path {path_length} hashes)"
        )
        say(f"[{backend}] {size:,} entries, {label}: consistency {_summary(consistency_times)}")
    engine.dispose()


def bench_proofs(dbs: Databases, sizes: list[int], proofs: int, existing: str | None) -> None:
    sizes = sorted(sizes)
    if existing:  # a database kept from an earlier run (--keep): measure only
        engine = make_engine(existing)
        roots: dict[int, bytes] = {}
        with make_sessionmaker(engine)() as db:
            held = audit_repo.read_audit_size(db)
            for size in (s for s in sizes if s <= held):
                nodes = audit_repo.get_nodes(db, nodes_for_root(size))
                roots[size] = root_hash(size, lambda level, index, nodes=nodes: nodes[(level, index)])
        engine.dispose()
        for size in roots:
            measure_proofs(dbs.backend, existing, size, roots, proofs)
        return
    url = dbs.fresh("proofs")
    began = time.perf_counter()
    tree = SyntheticTree(sizes[-1])
    say(
        f"[{dbs.backend}] hashed a tree of {sizes[-1]:,} random leaves in {time.perf_counter() - began:.0f} s"
    )
    roots = {s: tree.root(s) for s in sizes}
    done = 0
    for size in sizes:
        began = time.perf_counter()
        rows = load_nodes(url, tree, done, size)
        done = size
        _set_size(url, size)
        say(
            f"[{dbs.backend}] loaded the node table to {size:,} entries (+{rows:,} rows) in "
            f"{time.perf_counter() - began:.0f} s{' (kept: ' + url + ')' if dbs.keep else ''}"
        )
        measure_proofs(dbs.backend, url, size, {s: r for s, r in roots.items() if s <= size}, proofs)


# --- verify ---------------------------------------------------------------------------------------


def load_log(url: str, entries: int, data_dir: Path, head_every: int) -> int:
    """Bulk-load a log of real events with their index rows, nodes and signed heads."""
    key_id, private_key = signing_keys(data_dir).current
    tree = TreeBuilder()
    events, orgs, refs, sets, nodes, heads = [], [], [], [], [], []
    base = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)
    for n in range(entries):
        event = _event(n, n % 7)
        event = AuditEvent(**{**event.__dict__, "occurred_at": base + dt.timedelta(seconds=n)})
        entry = event_bytes(event)
        events.append(
            (
                n,
                event.occurred_at,
                event.action,
                "la",
                event.actor["org_id"],
                event.purpose,
                event.decision,
                event.release_id,
                entry,
                leaf_hash(entry),
            )
        )
        orgs.extend((n, org) for org in sorted({event.actor["org_id"], *event.subject_org_ids}))
        if event.pupil_refs:  # set id = index, as 0008 moves old events; one packed row per set
            refs.append((n, *audit_repo.pack_refs(event.pupil_refs)))
            sets.append((n, n))
        nodes.extend(tree.append(leaf_hash(entry)))
        if tree.size % head_every == 0 or tree.size == entries:
            head = sign_tree_head(tree.size, tree.root(), base + dt.timedelta(seconds=n), private_key, key_id)
            heads.append(
                (head.tree_size, head.key_id, head.root_hash, head.timestamp, head.algorithm, head.signature)
            )
    tables = {
        "audit_events": (
            "idx, occurred_at, action, actor_org_type, actor_org_id, purpose, decision, release_id, entry, "
            "leaf_hash",
            events,
        ),
        "audit_event_orgs": ("idx, org_id", orgs),
        "audit_pupil_sets": ("set_id, pupils, refs", refs),
        "audit_event_pupil_sets": ("idx, set_id", sets),
        "audit_nodes": ("level, idx, hash", nodes),
        "audit_tree_heads": ("tree_size, key_id, root_hash, signed_at, algorithm, signature", heads),
    }
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for table, (columns, rows) in tables.items():
            marks = ", ".join("?" for _ in columns.split(","))
            if table in ("audit_events", "audit_tree_heads"):
                position = 1 if table == "audit_events" else 3
                rows = [
                    (*r[:position], r[position].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[position + 1 :])
                    for r in rows
                ]
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608
        conn.commit()
        conn.close()
    else:
        import psycopg

        with psycopg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        ) as conn:
            for table, (columns, rows) in tables.items():
                with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
    _set_size(url, entries)
    return len(heads)


def bench_verify(dbs: Databases, entries: int, data_dir: Path) -> None:
    url = dbs.fresh("verify")
    seconds, heads = _timed(lambda: load_log(url, entries, data_dir, head_every=max(1, entries // 500)))
    say(f"[{dbs.backend}] built a log of {entries:,} events and {heads} signed heads in {seconds:.0f} s")
    report = verify_database(url, signing_keys(data_dir).public_keys())
    assert report.ok, report.problems[:3]
    say(
        f"[{dbs.backend}] audit verify: {report.events_checked:,} entries, {report.nodes_checked:,} nodes, "
        f"{report.heads_checked} heads in {report.seconds:.1f} s: "
        f"{report.events_checked / report.seconds:,.0f} entries/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("GATEWAY_BENCH_POSTGRES_URL", DEFAULT_PG),
        help="an admin URL; bench databases are created beside it",
    )
    parser.add_argument("--sizes", default="1000000,10000000", help="log sizes for the proof benchmark")
    parser.add_argument("--proofs", type=int, default=300, help="proofs of each kind per size")
    parser.add_argument("--writers", type=int, default=4, help="concurrent appending processes")
    parser.add_argument("--appends", type=int, default=300, help="appends per process")
    parser.add_argument("--verify-entries", type=int, default=200_000)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where SQLite files go (default: a temp dir)"
    )
    parser.add_argument("--skip-appends", action="store_true")
    parser.add_argument("--skip-proofs", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument(
        "--proofs-db",
        default=None,
        help="measure proofs on a database kept by an earlier run (--keep) instead of building one",
    )
    args = parser.parse_args()
    quiet()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gw-bench-audit-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    ensure_signing_key(data_dir)
    say(
        f"audit bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}Z, load average {os.getloadavg()[0]:.1f}"
    )
    for backend in ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]:
        dbs = Databases(backend, args.pg_url, workdir, args.keep)
        try:
            if not args.skip_appends:
                bench_appends(dbs, args.writers, args.appends)
            if not args.skip_proofs:
                bench_proofs(dbs, [int(s) for s in args.sizes.split(",")], args.proofs, args.proofs_db)
            if not args.skip_verify:
                bench_verify(dbs, args.verify_entries, data_dir)
        finally:
            dbs.close()


if __name__ == "__main__":
    main()
