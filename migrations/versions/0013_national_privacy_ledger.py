"""One privacy ledger per academic year for every statistics consumer, and the noisy measurements.

The budget was kept per organisation (``dfe:<org_id>``), so every DfE org id had a full
yearly cap. ``privacy_ledgers`` holds one row per academic year, its cap fixed when first spent from;
``privacy_spends.consumer`` now names the catalogue share drawn on (``dfe-statistics``) and the new
``requester`` the organisation that asked. ``stats_measurements`` keeps each published noisy vector so
that a later measure over the same window reuses it. The bound ``S_t`` now counts school days of the
public calendar, not every weekday, so the rollup's ``clean`` flags are recomputed.

Upgrade: a year that had several DfE budgets gets the smallest of their caps; spends keep their units;
a bundle name that two DfE org ids both used keeps the first, and later ones get the org id appended.
Downgrade: one budget per (year, requester) with the year's cap; spends and answers go back to their
requester. The rollup's ``clean`` flags need no recomputation on the way down: the weekday bound is
never below the school-day bound, so a pupil clean under one is clean under the other.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

DFE_SHARE = 'dfe-statistics'


@contextmanager
def _answers_set_aside() -> Iterator[None]:
    """SQLite rebuilds privacy_spends to change its foreign key, and cannot drop the old table while
    stats_answers rows reference it (a deferred check would still count them after the rename): the
    answers wait in a temporary table meanwhile."""
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE answers_aside AS SELECT * FROM stats_answers")
        op.execute("DELETE FROM stats_answers")
    yield
    if sqlite:
        op.execute("INSERT INTO stats_answers SELECT * FROM answers_aside")
        op.execute("DROP TABLE answers_aside")


def upgrade() -> None:
    op.create_table('privacy_ledgers',
    sa.Column('academic_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cap_units', sa.BigInteger(), nullable=False),
    sa.Column('epsilon', sa.Float(), nullable=False),
    sa.Column('delta', sa.Float(), nullable=False),
    sa.Column('fixed_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('academic_year', name=op.f('pk_privacy_ledgers'))
    )
    bind = op.get_bind()
    years = bind.execute(sa.text(
        "SELECT academic_year, min(cap_units), min(created_at), max(updated_at) FROM privacy_budgets "
        "GROUP BY academic_year")).all()
    for year, cap, created, updated in years:
        epsilon, delta = bind.execute(sa.text(
            "SELECT epsilon, delta FROM privacy_budgets WHERE academic_year = :y AND cap_units = :c"),
            {"y": year, "c": cap}).first()
        bind.execute(sa.text(
            "INSERT INTO privacy_ledgers (academic_year, cap_units, epsilon, delta, fixed_by, created_at, "
            "updated_at) VALUES (:y, :c, :e, :d, 'settings', :created, :updated)"),
            {"y": year, "c": cap, "e": epsilon, "d": delta, "created": created, "updated": updated})

    with _answers_set_aside():
        with op.batch_alter_table('privacy_spends', schema=None) as batch_op:
            batch_op.add_column(sa.Column('requester', sa.String(length=60), nullable=True))
            batch_op.drop_constraint('fk_privacy_spends_budget', type_='foreignkey')
        bind.execute(sa.text("UPDATE privacy_spends SET requester = consumer"))
        bind.execute(sa.text("UPDATE privacy_spends SET consumer = :share WHERE consumer LIKE 'dfe:%'"),
                     {"share": DFE_SHARE})
        with op.batch_alter_table('privacy_spends', schema=None) as batch_op:
            batch_op.alter_column('requester', existing_type=sa.String(length=60), nullable=False)
            batch_op.create_foreign_key(batch_op.f('fk_privacy_spends_academic_year_privacy_ledgers'),
                                        'privacy_ledgers', ['academic_year'], ['academic_year'])

    seen: set[str] = set()
    answers = bind.execute(sa.text(
        "SELECT question_hash, consumer, bundle FROM stats_answers WHERE bundle IS NOT NULL "
        "AND consumer LIKE 'dfe:%' ORDER BY created_at, question_hash")).all()
    for qhash, consumer, bundle in answers:
        if bundle in seen:
            renamed = f"{bundle}-{consumer.split(':', 1)[1]}"[:80]
            bind.execute(sa.text("UPDATE stats_answers SET bundle = :b WHERE question_hash = :q"),
                         {"b": renamed, "q": qhash})
        seen.add(bundle)
    bind.execute(sa.text("UPDATE stats_answers SET consumer = :share WHERE consumer LIKE 'dfe:%'"),
                 {"share": DFE_SHARE})
    op.drop_table('privacy_budgets')

    op.create_table('stats_measurements',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('spend_id', sa.String(length=40), nullable=False),
    sa.Column('academic_year', sa.Integer(), nullable=False),
    sa.Column('consumer', sa.String(length=40), nullable=False),
    sa.Column('statistic', sa.String(length=20), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('sensitivity', sa.Integer(), nullable=False),
    sa.Column('scale', sa.Float(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('noisy', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['spend_id'], ['privacy_spends.id'],
                            name=op.f('fk_stats_measurements_spend_id_privacy_spends')),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_stats_measurements'))
    )
    with op.batch_alter_table('stats_measurements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stats_measurements_spend_id'), ['spend_id'], unique=False)

    # The rollup's clean flags were judged against the weekday bound; the school-day bound is lower.
    if bind.execute(sa.text("SELECT 1 FROM enrolments LIMIT 1")).first() is not None:
        from sqlalchemy.orm import Session

        from gateway.db.repositories import rollup as rollup_repository

        with Session(bind=bind) as db:
            rollup_repository.rebuild(db)
            db.flush()


def downgrade() -> None:
    with op.batch_alter_table('stats_measurements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stats_measurements_spend_id'))
    op.drop_table('stats_measurements')
    op.create_table('privacy_budgets',
    sa.Column('academic_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('consumer', sa.String(length=40), nullable=False),
    sa.Column('cap_units', sa.BigInteger(), nullable=False),
    sa.Column('epsilon', sa.Float(), nullable=False),
    sa.Column('delta', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('academic_year', 'consumer', name=op.f('pk_privacy_budgets'))
    )
    bind = op.get_bind()
    bind.execute(sa.text(
        "INSERT INTO privacy_budgets (academic_year, consumer, cap_units, epsilon, delta, created_at, "
        "updated_at) SELECT DISTINCT s.academic_year, s.requester, l.cap_units, l.epsilon, l.delta, "
        "l.created_at, l.updated_at FROM privacy_spends s "
        "JOIN privacy_ledgers l ON l.academic_year = s.academic_year"))
    bind.execute(sa.text(
        "UPDATE stats_answers SET consumer = (SELECT s.requester FROM privacy_spends s "
        "WHERE s.id = stats_answers.spend_id)"))
    with _answers_set_aside():
        with op.batch_alter_table('privacy_spends', schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f('fk_privacy_spends_academic_year_privacy_ledgers'),
                                     type_='foreignkey')
        bind.execute(sa.text("UPDATE privacy_spends SET consumer = requester"))
        with op.batch_alter_table('privacy_spends', schema=None) as batch_op:
            batch_op.drop_column('requester')
            batch_op.create_foreign_key('fk_privacy_spends_budget', 'privacy_budgets',
                                        ['academic_year', 'consumer'], ['academic_year', 'consumer'])
    op.drop_table('privacy_ledgers')
