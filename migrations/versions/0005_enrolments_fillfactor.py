"""Enrolments keep room on every page, so that the daily move of each pupil's totals updates in place.

Every school day adds a register to every pupil's running totals: about 8 million updates a day of the
same rows. On full pages each update writes the new row version on another page and a new entry in
each of the table's three indexes. With half of each page free, PostgreSQL updates on the same page
without touching the indexes (a heap-only tuple), and prunes the old versions page by page without
waiting for a vacuum. On the ingest bench (bench/ingest.py) this halves the database's cost of the
totals upsert. SQLite has no fillfactor: nothing to do there.

Pages written before this revision keep their packing until the table is rewritten (VACUUM FULL or
CLUSTER in a maintenance window); new pages follow the setting at once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 00:45:00.000000
"""

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

#: Half of each page free: room for one new version of every row on it, i.e. one school day's update.
FILLFACTOR = 50


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE enrolments SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE enrolments RESET (fillfactor)")
