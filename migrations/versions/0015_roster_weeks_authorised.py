"""Rosters' weekly counters gain authorised sessions (packed format 2): per pupil and school week,
possible, unauthorised and authorised sessions, so that a report's last four weeks can show overall,
authorised and unauthorised absence from the rosters alone.

Upgrading remakes every roster of format 1 from the stored marks, with the code that
``gateway stats rebuild`` runs; downgrading drops the third counter and marks the rosters format 1.
No table changes shape.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:45:00.000000
"""

import zlib

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

WEEKS = 53  # ISO weeks that meet an academic year
_RAW, _ZLIB = 0, 1


def upgrade() -> None:
    bind = op.get_bind()
    old = bind.execute(sa.text("SELECT 1 FROM rosters WHERE format < 2 LIMIT 1")).first()
    if old is None:
        return
    from sqlalchemy.orm import Session

    from gateway.db.repositories import rosters as roster_repository

    with Session(bind=bind) as db:
        roster_repository.rebuild(db, legacy=True)
        db.flush()


def _decode(blob: bytes) -> bytes:
    return zlib.decompress(blob[1:]) if blob[0] == _ZLIB else bytes(blob[1:])


def _encode(raw: bytes) -> bytes:
    packed = zlib.compress(raw, 1)
    return bytes([_ZLIB]) + packed if len(packed) < len(raw) else bytes([_RAW]) + raw


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT urn, academic_year, pupils, weeks FROM rosters WHERE format = 2")).all()
    for urn, year, pupils, weeks in rows:
        raw = _decode(bytes(weeks))
        kept = b"".join(raw[i:i + 2] for i in range(0, pupils * WEEKS * 3, 3))
        bind.execute(sa.text("UPDATE rosters SET format = 1, weeks = :weeks "
                             "WHERE urn = :urn AND academic_year = :year"),
                     {"weeks": _encode(kept), "urn": urn, "year": year})
