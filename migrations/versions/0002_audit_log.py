"""Audit log: stored Merkle nodes, signed tree heads, the pupil index, and append-only triggers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00.000000

Nodes are backfilled from the events already in the log (re-hashing each entry), so that a log
begun under 0001 can serve proofs at once. The triggers make every audit table append-only for
anyone who goes through the database rather than the gateway; ``audit_state`` stays updatable, as
it holds the size that serialises appends.

Note for later migrations: on SQLite, Alembic's batch mode rebuilds a table by copying it, which
drops that table's triggers. A migration that batch-alters an audit table must recreate them
(``create_append_only_triggers`` below).
"""

import json

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

#: Tables that no one may UPDATE, DELETE or TRUNCATE once written.
APPEND_ONLY_TABLES = (
    'audit_events', 'audit_event_orgs', 'audit_nodes', 'audit_tree_heads', 'audit_pupil_refs',
)
_FUNCTION = 'audit_refuse_change'
_MESSAGE = 'audit log is append-only'


def create_append_only_triggers(tables=APPEND_ONLY_TABLES) -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{_MESSAGE}: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for table in tables:
            op.execute(
                f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} '
                f'FOR EACH ROW EXECUTE FUNCTION {_FUNCTION}()'
            )
            op.execute(
                f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} '
                f'FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()'
            )
    else:
        # SQLite has no TRUNCATE: a DELETE without WHERE is still a DELETE, and fires the trigger.
        for table in tables:
            for operation in ('UPDATE', 'DELETE'):
                op.execute(
                    f'CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} '
                    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
                )


def drop_append_only_triggers(tables=APPEND_ONLY_TABLES) -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        for table in tables:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON {table}')
        op.execute(f'DROP FUNCTION IF EXISTS {_FUNCTION}()')
    else:
        for table in tables:
            for operation in ('update', 'delete'):
                op.execute(f'DROP TRIGGER IF EXISTS {table}_no_{operation}')


def upgrade() -> None:
    op.create_table('audit_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_audit_nodes'))
    )
    op.create_table('audit_pupil_refs',
    sa.Column('pupil_ref', sa.String(length=32), nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('pupil_ref', 'idx', name=op.f('pk_audit_pupil_refs'))
    )
    op.create_table('audit_tree_heads',
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('root_hash', sa.LargeBinary(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('algorithm', sa.String(length=10), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('tree_size', 'key_id', name=op.f('pk_audit_tree_heads'))
    )
    _backfill()
    create_append_only_triggers()


def _backfill() -> None:
    """Nodes and pupil index rows for events appended before this revision, in batches."""
    from audit.merkle import leaf_hash, new_nodes_on_append_many

    bind = op.get_bind()
    events = sa.table('audit_events', sa.column('idx', sa.BigInteger), sa.column('entry', sa.LargeBinary))
    nodes = sa.table(
        'audit_nodes', sa.column('level', sa.SmallInteger), sa.column('idx', sa.BigInteger),
        sa.column('hash', sa.LargeBinary),
    )
    refs = sa.table('audit_pupil_refs', sa.column('pupil_ref', sa.String), sa.column('idx', sa.BigInteger))
    frontier: dict[int, tuple[int, bytes]] = {}

    def get_node(level: int, index: int) -> bytes:
        held = frontier.get(level)
        if held is None or held[0] != index:
            raise LookupError(f'no node at level {level}, index {index}')
        return held[1]

    size, batch = 0, 5000
    while True:
        rows = bind.execute(
            sa.select(events.c.idx, events.c.entry)
            .where(events.c.idx >= size).order_by(events.c.idx).limit(batch)
        ).all()
        if not rows:
            return
        if rows[0].idx != size or rows[-1].idx != size + len(rows) - 1:
            raise RuntimeError('the audit log has a gap: run `gateway audit verify` on a copy first')
        created = new_nodes_on_append_many(size, [leaf_hash(bytes(r.entry)) for r in rows], get_node)
        for level, index, value in created:
            frontier[level] = (index, value)
        bind.execute(sa.insert(nodes), [{'level': lv, 'idx': ix, 'hash': h} for lv, ix, h in created])
        pupils = [
            {'pupil_ref': ref, 'idx': r.idx}
            for r in rows
            for ref in sorted(set(json.loads(bytes(r.entry))['pupil_refs']))
        ]
        if pupils:
            bind.execute(sa.insert(refs), pupils)
        size += len(rows)


def downgrade() -> None:
    drop_append_only_triggers()
    op.drop_table('audit_tree_heads')
    op.drop_table('audit_pupil_refs')
    op.drop_table('audit_nodes')
