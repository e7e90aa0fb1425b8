"""Packed registers: one row per (school, day) holding the day's marks packed by roster slot.

``registers`` replaces ``feeds``: the current version of a school's register for a day, with its
digest, pupil count and audit index as before, and its marks packed two bytes a slot in the order of
the school's roster for the year (``schemas.registers``). Superseded versions move to
``register_history`` (replacing ``feeds``' older rows and ``mark_history``). ``register_codes`` numbers
the codes, and the view ``register_marks`` unpacks the current registers to one row per pupil, day and
session with plain SQL. ``marks`` stays, for the readers not yet moved.

Upgrading packs every stored version from ``marks`` and ``mark_history`` through the rosters' slots;
downgrading writes ``feeds`` and ``mark_history`` back from the packed rows.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 00:30:00.000000
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_META = ('urn', 'date', 'version', 'academic_year', 'body_sha256', 'pupil_count', 'received_at',
         'submitted_by', 'audit_index')

VIEW_PG = """
CREATE VIEW register_marks AS
SELECT r.urn, r.date, r.academic_year, r.version,
       encode(substring(ro.pupil_ids FROM 2 + 32 * (b.i / 2) FOR 32), 'hex') AS pupil_id,
       CASE b.i % 2 WHEN 0 THEN 'AM' ELSE 'PM' END AS session, c.code
FROM registers r
JOIN rosters ro ON ro.urn = r.urn AND ro.academic_year = r.academic_year
CROSS JOIN LATERAL generate_series(0, length(r.marks) - 1) AS b(i)
JOIN register_codes c ON c.number = get_byte(r.marks, b.i)
"""
# SQLite has no generate_series of its own: the byte offsets come from a recursive CTE, and a byte is
# matched by its hex digits (SQLite reads no byte of a blob as a number).
VIEW_SQLITE = """
CREATE VIEW register_marks AS
WITH RECURSIVE b(urn, date, i, n) AS (
    SELECT urn, date, 0, length(marks) FROM registers WHERE length(marks) > 0
    UNION ALL SELECT urn, date, i + 1, n FROM b WHERE i + 1 < n
)
SELECT r.urn, r.date, r.academic_year, r.version,
       lower(hex(substr(ro.pupil_ids, 2 + 32 * (b.i / 2), 32))) AS pupil_id,
       CASE b.i % 2 WHEN 0 THEN 'AM' ELSE 'PM' END AS session, c.code
FROM b
JOIN registers r ON r.urn = b.urn AND r.date = b.date
JOIN rosters ro ON ro.urn = r.urn AND ro.academic_year = r.academic_year
JOIN register_codes c ON c.hex = hex(substr(r.marks, b.i + 1, 1))
"""


def _register_columns(feeds: bool = False) -> list[sa.Column]:
    year = sa.Column('academic_year', sa.Integer(), autoincrement=False, nullable=False)
    return [
        sa.Column('urn', sa.Integer(), autoincrement=False, nullable=False),
        *([] if feeds else [year]),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        *([year] if feeds else []),
        sa.Column('body_sha256', sa.String(length=64), nullable=False),
        sa.Column('pupil_count', sa.Integer(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('submitted_by', sa.String(length=200), nullable=False),
        sa.Column('audit_index', sa.BigInteger(), nullable=False),
        sa.Column('format', sa.SmallInteger(), nullable=False),
        sa.Column('marks', sa.LargeBinary(), nullable=False),
    ]


def _day(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def upgrade() -> None:
    from schemas import registers as packed

    op.create_table('registers', *_register_columns(),
                    sa.ForeignKeyConstraint(['urn'], ['schools.urn'], name=op.f('fk_registers_urn_schools')),
                    sa.PrimaryKeyConstraint('urn', 'academic_year', 'date', name=op.f('pk_registers')))
    op.create_index('ix_registers_year_date', 'registers', ['academic_year', 'date'], unique=False)
    op.create_table('register_history', *_register_columns(),
                    sa.PrimaryKeyConstraint('urn', 'academic_year', 'date', 'version',
                                            name=op.f('pk_register_history')))
    op.create_index('ix_register_history_year', 'register_history', ['academic_year'], unique=False)
    codes = op.create_table('register_codes',
                            sa.Column('number', sa.SmallInteger(), autoincrement=False, nullable=False),
                            sa.Column('code', sa.String(length=2), nullable=False),
                            sa.Column('hex', sa.String(length=2), nullable=False),
                            sa.PrimaryKeyConstraint('number', name=op.f('pk_register_codes')))
    op.bulk_insert(codes, [{'number': n, 'code': c, 'hex': f'{n:02X}'} for c, n in packed.NUMBER.items()])
    bind = op.get_bind()
    op.execute(VIEW_PG if bind.dialect.name == 'postgresql' else VIEW_SQLITE)
    _pack_stored(bind)
    op.drop_table('mark_history')
    op.drop_index('ix_feeds_year_date', table_name='feeds')
    op.drop_table('feeds')


def _pack_stored(bind: sa.Connection) -> None:
    """Every stored version of every register, packed through its school's roster slots."""
    from sqlalchemy.orm import Session

    from gateway.db.repositories import rosters
    from schemas import registers as packed

    query = f"SELECT {', '.join(_META)} FROM feeds ORDER BY urn, date, version"  # noqa: S608 (our names)
    feeds = bind.execute(sa.text(query)).all()
    if not feeds:
        return
    latest: dict[tuple[int, dt.date], int] = {}
    for f in feeds:
        latest[(f.urn, _day(f.date))] = max(latest.get((f.urn, _day(f.date)), 0), f.version)
    slots: dict[tuple[int, int], dict[str, int]] = {}
    with Session(bind=bind) as db:
        for urn, year in {(f.urn, f.academic_year) for f in feeds}:
            slots[(urn, year)] = {pid: n for n, pid in enumerate(rosters.slot_order(db, urn, year))}
    for f in feeds:
        day = _day(f.date)
        current = latest[(f.urn, day)] == f.version
        if current:
            rows = bind.execute(sa.text("SELECT pupil_id, am, pm FROM marks WHERE urn = :u AND date = :d"),
                                {'u': f.urn, 'd': f.date}).all()
        else:
            rows = bind.execute(sa.text("SELECT pupil_id, am, pm FROM mark_history "
                                        "WHERE urn = :u AND date = :d AND version = :v"),
                                {'u': f.urn, 'd': f.date, 'v': f.version}).all()
        slot = slots[(f.urn, f.academic_year)]
        if any(r.pupil_id not in slot for r in rows):
            raise RuntimeError(f"school {f.urn}'s roster for {f.academic_year} lacks pupils of its "
                               "registers: run `gateway stats rebuild` at revision 0017 first")
        values = {name: getattr(f, name) for name in _META}
        values.update(format=packed.FORMAT, marks=packed.pack([slot[r.pupil_id] for r in rows],
                                                              [r.am for r in rows], [r.pm for r in rows]))
        table = 'registers' if current else 'register_history'
        bind.execute(sa.text(f"INSERT INTO {table} ({', '.join(values)}) "  # noqa: S608 (our names)
                             f"VALUES ({', '.join(':' + k for k in values)})"), values)


def downgrade() -> None:
    from sqlalchemy.orm import Session

    from gateway.db.repositories import rosters
    from schemas import registers as packed

    op.create_table('mark_history',
                    sa.Column('urn', sa.Integer(), nullable=False),
                    sa.Column('date', sa.Date(), nullable=False),
                    sa.Column('version', sa.Integer(), nullable=False),
                    sa.Column('pupil_id', sa.String(length=64), nullable=False),
                    sa.Column('academic_year', sa.Integer(), nullable=False),
                    sa.Column('am', sa.String(length=2), nullable=False),
                    sa.Column('pm', sa.String(length=2), nullable=False),
                    sa.PrimaryKeyConstraint('urn', 'date', 'version', 'pupil_id',
                                            name=op.f('pk_mark_history')))
    op.create_table('feeds', *_register_columns(feeds=True)[:9],
                    sa.ForeignKeyConstraint(['urn'], ['schools.urn'], name=op.f('fk_feeds_urn_schools')),
                    sa.PrimaryKeyConstraint('urn', 'date', 'version', name=op.f('pk_feeds')))
    op.create_index('ix_feeds_year_date', 'feeds', ['academic_year', 'date'], unique=False)
    bind = op.get_bind()
    names = ', '.join(_META)
    for table in ('registers', 'register_history'):
        bind.execute(sa.text(f"INSERT INTO feeds ({names}) SELECT {names} FROM {table}"))  # noqa: S608
    history = bind.execute(sa.text("SELECT urn, date, version, academic_year, marks FROM register_history"))
    insert = sa.text("INSERT INTO mark_history (urn, date, version, pupil_id, academic_year, am, pm) "
                     "VALUES (:u, :d, :v, :p, :y, :am, :pm)")
    with Session(bind=bind) as db:
        for h in history.all():
            rows = packed.marks(bytes(h.marks), rosters.slot_order(db, h.urn, h.academic_year))
            if rows:
                bind.execute(insert,
                             [{'u': h.urn, 'd': h.date, 'v': h.version, 'p': pid, 'y': h.academic_year,
                               'am': am, 'pm': pm} for pid, am, pm in rows])
    op.execute('DROP VIEW register_marks')
    op.drop_table('register_codes')
    op.drop_index('ix_register_history_year', table_name='register_history')
    op.drop_table('register_history')
    op.drop_index('ix_registers_year_date', table_name='registers')
    op.drop_table('registers')
