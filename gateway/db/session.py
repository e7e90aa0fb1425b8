"""Engines and transactions. SQLite is the embedded default, PostgreSQL (psycopg 3) production.

Every engine the gateway opens is made here: the pooled one of a running gateway (:func:`make_engine`)
and the read-only ones of a release's reads (:func:`reading`) and of a verification
(:func:`read_snapshot`). The units of work are here too: :func:`transaction` for everything that
writes, :func:`reading` and :func:`one_statement` for reads that must not take the write lock.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    # No JIT compilation: PostgreSQL compiles a statement's expressions to machine code whenever its
    # estimated cost passes jit_above_cost, and an estimate from settled statistics put a register's
    # rollup refresh there, where compiling took several times longer than running the statement. Our
    # statements are short; none gained from it.
    # Added to any `options` the URL gives (a connect argument would replace them).
    given = make_url(url).query.get("options", "")
    options = " ".join([*(given if isinstance(given, tuple) else (given,)), "-c jit=off"]).strip()
    connect_args = {"options": options, **kwargs.pop("connect_args", {})}
    return create_engine(url, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # Deleted rows (shredded keys, expired marks) are overwritten on disk, not just unlinked.
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: avoids lock-upgrade deadlocks between concurrent writers.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_reader(url: str | URL) -> Engine:
    """A SQLite engine whose transactions begin DEFERRED and cannot write: in WAL mode each reads
    one snapshot without the write lock, while writers carry on. No pool: a connection per use,
    opened in well under a millisecond, and none left open."""
    reader = create_engine(url, poolclass=NullPool, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(reader, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy, not the driver, begins: deferred, below
        dbapi_conn.execute("PRAGMA query_only=ON")

    @event.listens_for(reader, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN DEFERRED")

    return reader


@functools.lru_cache(maxsize=8)
def _cached_sqlite_reader(url: URL) -> Engine:
    """One reader per database, for the reads of releases (:func:`reading`)."""
    return _sqlite_reader(url)


def is_postgres(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def driver_connection(db: Session) -> Any:
    """The DBAPI connection (psycopg or sqlite3) under the session's transaction: for the bulk reads
    and writes (COPY, executemany, one-parameter lists) that skip SQLAlchemy's per-statement work."""
    return db.connection().connection.driver_connection


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session], *, locks_before_flush: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    ``locks_before_flush`` (PostgreSQL; nothing on SQLite): the commit gives up the transaction's
    locks before its WAL reaches the disk, and the block is left only once it has. The transaction
    commits with ``synchronous_commit = off``, so its locks go as soon as its commit record is
    written; then a second transaction on the same connection commits synchronously, which flushes
    the WAL up to its own commit record and so past the first one. (A commit flushes only when its
    transaction has an xid and wrote WAL itself: the second one takes an xid and emits a
    logical-decoding message outside any transaction, which any role may do.)

    For a register or a release, whose last step takes the audit log's append lock
    (``repositories.audit.claim_index``), that keeps the commit's fsync out of the lock that every other
    append waits for: on the ingest bench the wait for it halved. The caller still returns only when
    its work is durable, as with a plain commit. Between the two commits other transactions can see
    the work, but none can make anything durable that depends on it without flushing it too: the WAL
    is flushed in order. If the flush fails, the caller gets the error (a 503) and the client sends
    again; a register sent again is a no-op if the first one was stored.
    """
    engine = factory.kw["bind"]
    if not (locks_before_flush and engine.dialect.name == "postgresql"):
        with _committed(factory()) as db:
            yield db
        return
    # One connection for both commits: one checkout from the pool, one pre-ping.
    with engine.connect() as conn:
        with _committed(factory(bind=conn)) as db:
            db.execute(_ASYNC_COMMIT)
            yield db
        conn.execute(_FLUSH)
        conn.commit()


@contextmanager
def _committed(db: Session) -> Iterator[Session]:
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")
_FLUSH = text("SELECT pg_current_xact_id(), pg_logical_emit_message(false, 'attendance-gateway', 'flush')")


@contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for the reads of a release, which writes nothing.

    SQLite: a deferred transaction on a connection of its own, which in WAL mode reads one snapshot
    without the write lock (the gateway's engine begins every transaction IMMEDIATE, so that the
    reads of one release, seconds at the scale of a large LA, would hold up every other write and
    queue concurrent releases behind each other until their lock waits ran out). PostgreSQL: the
    usual transaction, which never blocks a writer."""
    engine = sessions.kw["bind"]
    with Session(bind=_cached_sqlite_reader(engine.url) if engine.dialect.name == "sqlite" else engine) as db:
        try:
            yield db
        finally:
            db.rollback()


@contextmanager
def one_statement(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for a read made of one statement, which sees one snapshot on its own.

    On PostgreSQL the connection runs in autocommit, which saves the BEGIN and COMMIT round trips
    (a proof is one statement, and these were most of its time). SQLite's transactions cost
    nothing to open, and the gateway's engine begins them itself, so it keeps the usual one.
    """
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        db = sessions()
        try:
            yield db
            db.commit()
        finally:
            db.close()
        return
    with engine.connect() as conn, Session(bind=conn.execution_options(isolation_level="AUTOCOMMIT")) as db:
        yield db


@contextmanager
def read_snapshot(database_url: str) -> Iterator[Session]:
    """A read-only session over one consistent snapshot that does not hold up appends, on an engine
    of its own (`gateway audit verify` runs without a running gateway's engine).

    PostgreSQL: a REPEATABLE READ transaction. SQLite: a deferred transaction, which in WAL mode
    reads one snapshot while writers carry on (the gateway's own engine begins every transaction
    IMMEDIATE, which would stop every append for the length of a verify).
    """
    url = normalise_url(database_url)
    if url.startswith("sqlite"):
        engine = _sqlite_reader(url)
    else:
        engine = make_engine(url, isolation_level="REPEATABLE READ")
    try:
        with Session(engine) as db:
            try:
                yield db
            finally:
                db.rollback()
    finally:
        engine.dispose()
