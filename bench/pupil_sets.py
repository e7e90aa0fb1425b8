"""Benchmark the audit log's pupil sets: what naming a release's pupils costs an append, the disk
they take, and how long subject access takes to find one pupil among them.

    python bench/pupil_sets.py                       # PostgreSQL ($GATEWAY_BENCH_POSTGRES_URL)
    python bench/pupil_sets.py --backend sqlite --events 200 --pupils 15000

Each event is a `release.decided` naming `--pupils` audit pseudonyms (as a targeting-support
release of an LA of 200 schools does), appended through `gateway.services.audit.record` in its own
transaction, as a release does. Printed: wall and CPU (this process plus the database server's
backend, on PostgreSQL) per event and per pupil named, the table's size on disk (table, TOAST and
indexes), and the median time of `release_events_for_pupil` for a pupil named by one event.
Run it at two commits, interleaved, to compare.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.db.migrate import upgrade  # noqa: E402
from gateway.db.repositories import audit as audit_repo  # noqa: E402
from gateway.db.session import make_engine, make_sessionmaker, normalise_url, transaction  # noqa: E402
from gateway.services import audit  # noqa: E402


def _backend_cpu(db: object) -> float:
    """The database backend's CPU seconds so far (PostgreSQL on this host: /proc of its pid)."""
    pid = db.execute(text("SELECT pg_backend_pid()")).scalar_one()  # type: ignore[attr-defined]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("GATEWAY_BENCH_POSTGRES_URL",
                                                           "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--pupils", type=int, default=15000)
    parser.add_argument("--lookups", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pupil-sets-"))
    admin = None
    if args.backend == "postgresql":
        name = f"bench_psets_{uuid.uuid4().hex[:8]}"
        admin = create_engine(normalise_url(args.pg_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = normalise_url(args.pg_url).rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{work / 'bench.db'}"
    try:
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        named: list[str] = []
        walls, cpus = [], []
        for n in range(args.events):
            refs = [f"ap_{secrets.token_hex(13)}" for _ in range(args.pupils)]
            named.append(refs[0])
            event = audit.new_event(None, "release.decided", actor={"org_type": "la", "org_id": "202",
                                    "sub": "bench"}, purpose="la-targeting-support", decision="allow",
                                    subject_org_ids=["202"], record_count=len(refs),
                                    release_id=f"rel-{n}", details={}, pupil_refs=refs)
            with transaction(sessions) as db:
                server = _backend_cpu(db) if args.backend == "postgresql" else 0.0
                wall, cpu = time.perf_counter(), time.process_time()
                audit.record(db, event)
            walls.append(time.perf_counter() - wall)
            with sessions() as db:
                server = (_backend_cpu(db) - server) if args.backend == "postgresql" else 0.0
            cpus.append(time.process_time() - cpu + max(server, 0.0))
        with sessions() as db:
            if args.backend == "postgresql":
                size = db.execute(text("SELECT pg_total_relation_size('audit_pupil_sets')")).scalar_one()
            else:
                size = sum(r[0] for r in db.execute(text(
                    "SELECT pgsize FROM dbstat WHERE name LIKE '%audit_pupil_sets%'")))
            looks = []
            for ref in named[:: max(1, len(named) // args.lookups)]:
                start = time.perf_counter()
                found = audit_repo.release_events_for_pupil(db, [ref], visible_org=None, max_index=10**12)
                looks.append(time.perf_counter() - start)
                assert len(found) == 1
        engine.dispose()
        wall_ms, cpu_ms = statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3
        per_pupil = size / (args.events * args.pupils)
        print(f"[{args.backend}] {args.events} events x {args.pupils:,} pupils: append median "  # noqa: T201
              f"{wall_ms:.1f} ms wall, {cpu_ms:.1f} ms CPU ({cpu_ms * 1e3 / args.pupils:.2f} us CPU per "
              f"pupil named); pupil sets on disk {size / 2**20:.1f} MiB ({per_pupil:.1f} B per pupil); "
              f"subject access median {statistics.median(looks) * 1e3:.1f} ms")
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
