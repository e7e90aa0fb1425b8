"""Differentially private statistics: the yearly privacy-budget ledger and the stored noisy answers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    op.create_table(
        "privacy_spends",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("consumer", sa.String(length=40), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("question_hash", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("measurement", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("audit_index", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN ('reserved', 'released')", name=op.f("ck_privacy_spends_status_known")),
        sa.CheckConstraint("units > 0", name=op.f("ck_privacy_spends_units_positive")),
        sa.ForeignKeyConstraint(
            ["academic_year", "consumer"],
            ["privacy_budgets.academic_year", "privacy_budgets.consumer"],
            name="fk_privacy_spends_budget",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_spends")),
    )
    with op.batch_alter_table("privacy_spends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_spends_question_hash"), ["question_hash"], unique=False)
        batch_op.create_index("ix_privacy_spends_year_consumer", ["academic_year", "consumer"], unique=False)

    op.create_table(
        "stats_answers",
        sa.Column("question_hash", sa.String(length=64), nullable=False),
        sa.Column("spend_id", sa.String(length=40), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("consumer", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("bundle", sa.String(length=80), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("csv", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["spend_id"], ["privacy_spends.id"], name=op.f("fk_stats_answers_spend_id_privacy_spends")
        ),
        sa.PrimaryKeyConstraint("question_hash", name=op.f("pk_stats_answers")),
        sa.UniqueConstraint("consumer", "bundle", name="uq_stats_answers_consumer_bundle"),
        sa.UniqueConstraint("spend_id", name=op.f("uq_stats_answers_spend_id")),
    )


def downgrade() -> None:
    op.drop_table("stats_answers")
    with op.batch_alter_table("privacy_spends", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_spends_year_consumer")
        batch_op.drop_index(batch_op.f("ix_privacy_spends_question_hash"))

    op.drop_table("privacy_spends")
    op.drop_table("privacy_budgets")
