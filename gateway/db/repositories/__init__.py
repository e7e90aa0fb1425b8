"""All SQL lives here, one module per aggregate; services call these functions inside the transaction
they own.

schools     the register of schools (GIAS) and an LA's view of it
registers   a school's registers: feeds, marks, enrolments and their running totals
identities  pupils' encrypted identities and their wrapped data keys
rosters     the packed per-school rosters (``schemas.rosters``)
releases    the rows a release reads (its scope applied in the WHERE clause) and the releases made
consents    consent records and the latest decision per pupil
audit       the append-only audit log: appends, Merkle nodes, tree heads, DPO queries, verification
statistics  the exact aggregate of the differentially private statistics
rollup      the pupil-year rollup and statistics cells, kept exact at ingest
budget      the privacy-budget ledger and the published measurements and answers
retention   what is past its time, and deleting it

The bulk writes of every module go through ``gateway.db.bulk``.
"""
