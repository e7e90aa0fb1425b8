"""Partitions by academic year (PostgreSQL): data keys, identities, rosters and packed registers.

Each table is made again as ``PARTITION BY LIST (academic_year)`` with the same columns, keys and
indexes, one partition for each year it holds and for this academic year and the next two
(``<table>_y2025``), and a default partition; its rows are copied over and the old table dropped.
Retention then drops a year's partitions (``gateway.db.partitions``). SQLite is unchanged.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 01:00:00.000000
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

#: Each table's primary key, its other indexes, and its foreign keys, as created before.
TABLES = {
    'data_keys': (('pupil_id', 'academic_year'), {}, {}),
    'pupil_identities': (('pupil_id', 'academic_year'), {}, {}),
    'rosters': (('urn', 'academic_year'), {}, {}),
    'registers': (('urn', 'academic_year', 'date'), {'ix_registers_year_date': ('academic_year', 'date')},
                  {'fk_registers_urn_schools': ('urn', 'schools', 'urn')}),
    'register_history': (('urn', 'academic_year', 'date', 'version'),
                         {'ix_register_history_year': ('academic_year',)}, {}),
}


def _years(bind: sa.Connection, table: str) -> set[int]:
    today = dt.date.today()
    this_year = today.year if today.month >= 8 else today.year - 1
    held = {int(y) for y in bind.execute(sa.text(f"SELECT DISTINCT academic_year FROM {table}")).scalars()}  # noqa: S608
    # Seven years back: registers are kept six years after their year ends (retention).
    return held | set(range(this_year - 8, this_year + 3))


def _remake(bind: sa.Connection, table: str, partitioned: bool) -> None:
    """Make `table` again, partitioned or plain, with its rows."""
    key, indexes, foreign = TABLES[table]
    old = f'{table}_before_0019'
    op.execute(f'ALTER TABLE {table} RENAME TO {old}')
    op.execute(f'ALTER INDEX pk_{table} RENAME TO pk_{old}')
    for index in indexes:
        op.execute(f'ALTER INDEX {index} RENAME TO {index}_before_0019')
    for name in foreign:
        op.execute(f'ALTER TABLE {old} RENAME CONSTRAINT {name} TO {name}_before_0019')
    by = ' PARTITION BY LIST (academic_year)' if partitioned else ''
    # Storage settings too: the rosters' parts are stored EXTERNAL (migration 0012).
    op.execute(f'CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE){by}')
    op.execute(f'ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({", ".join(key)})')
    for index, columns in indexes.items():
        op.execute(f'CREATE INDEX {index} ON {table} ({", ".join(columns)})')
    for name, (column, target, target_column) in foreign.items():
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) '
                   f'REFERENCES {target} ({target_column})')
    if partitioned:
        for year in sorted(_years(bind, old)):
            op.execute(f'CREATE TABLE {table}_y{year} PARTITION OF {table} FOR VALUES IN ({year})')
        op.execute(f'CREATE TABLE {table}_default PARTITION OF {table} DEFAULT')
    op.execute(f'INSERT INTO {table} SELECT * FROM {old}')  # noqa: S608
    op.execute(f'DROP TABLE {old}')


def _remake_all(partitioned: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    # The view reads registers and rosters: made again over the new tables.
    view = bind.execute(sa.text("SELECT pg_get_viewdef('register_marks'::regclass)")).scalar_one()
    op.execute('DROP VIEW register_marks')
    for table in TABLES:
        _remake(bind, table, partitioned=partitioned)
    op.execute(f'CREATE VIEW register_marks AS {view}')


def upgrade() -> None:
    _remake_all(partitioned=True)


def downgrade() -> None:
    _remake_all(partitioned=False)
