"""The audit log's pupil sets packed: one row per set, not one per pupil.

Up to 0015 an event's pupil set was one ``audit_pupil_sets`` row per (pseudonym, set id), behind a
primary key on the pseudonym: a release of 10,000 pupils wrote 10,000 rows and 20,000 index entries.
Now a set is one row, (set_id, pupils, refs), ``refs`` holding the sorted pseudonyms each between two
line feeds. Subject access finds a pupil's sets by a substring search for the pseudonym between line
feeds (``strpos`` on PostgreSQL, ``instr`` on SQLite), and verification unpacks them. The table stays
append-only; the downgrade puts one row per pupil back.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 16:00:00.000000
"""

import importlib

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_audit_log = importlib.import_module('migrations.versions.0002_audit_log')
TABLE = 'audit_pupil_sets'


def _packed() -> sa.Table:
    return sa.table(TABLE, sa.column('set_id', sa.BigInteger()), sa.column('pupils', sa.Integer()),
                    sa.column('refs', sa.Text()))


def upgrade() -> None:
    bind = op.get_bind()
    sets: dict[int, list[str]] = {}
    for ref, set_id in bind.execute(sa.text(f'SELECT pupil_ref, set_id FROM {TABLE}')):  # noqa: S608
        sets.setdefault(int(set_id), []).append(ref)
    op.drop_table(TABLE)  # with its index and append-only triggers
    op.create_table(TABLE,
    sa.Column('set_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('pupils', sa.Integer(), nullable=False),
    sa.Column('refs', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('set_id', name=op.f('pk_audit_pupil_sets'))
    )
    rows = [{'set_id': set_id, 'pupils': len(set(refs)),
             'refs': '\n' + ''.join(f'{ref}\n' for ref in sorted(set(refs)))}
            for set_id, refs in sets.items()]
    if rows:
        op.bulk_insert(_packed(), rows)
    _audit_log.create_append_only_triggers((TABLE,))


def downgrade() -> None:
    bind = op.get_bind()
    stored = bind.execute(sa.text(f'SELECT set_id, refs FROM {TABLE}'))  # noqa: S608
    rows = [(int(set_id), refs) for set_id, refs in stored]
    op.drop_table(TABLE)
    op.create_table(TABLE,
    sa.Column('pupil_ref', sa.String(length=32), nullable=False),
    sa.Column('set_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('pupil_ref', 'set_id', name=op.f('pk_audit_pupil_sets'))
    )
    op.create_index('ix_audit_pupil_sets_set', TABLE, ['set_id'])
    unpacked = [{'pupil_ref': ref, 'set_id': set_id}
                for set_id, refs in rows for ref in refs.split('\n') if ref]
    if unpacked:
        per_pupil = sa.table(TABLE, sa.column('pupil_ref', sa.String()), sa.column('set_id', sa.BigInteger()))
        op.bulk_insert(per_pupil, unpacked)
    _audit_log.create_append_only_triggers((TABLE,))
