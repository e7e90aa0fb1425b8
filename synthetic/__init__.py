"""Synthetic England: schools, pupils and daily registers for `gateway demo` and the benchmarks.

Why synthetic: the gateway must never be demonstrated or load-tested on real children. Why realistic: a
demo, a benchmark or a statistic built on uniform noise hides the problems real data brings (a few pupils
carrying most absence, unauthorised holidays in week-long blocks, reasons that arrive days late, names with
apostrophes and accents, LA codes that changed). So every LA x phase is driven by DfE's published 2025/26
year-to-date figures (shipped as `gateway/data/dfe-pupil-attendance-ytd-2025-26.csv`, Crown copyright,
Open Government Licence v3.0): its school count, enrolment, register-code mix and persistent-absence share.

Everything is deterministic: the same seed gives the same schools, pupils and marks, whatever subset of
LAs is asked for, so that a failing benchmark or demo can be replayed. Each purpose draws from its own
`random.Random` seeded from a string naming it (seed, purpose, URN, date, ...), or for single numbers
asked for millions of times from an integer hash; never from the global generator or Python's salted
`hash()`.

Typical use (what `gateway demo` and the benchmarks do):

    profiles = load_la_profiles()
    by_key = {(p.old_la_code, p.phase): p for p in profiles}
    schools = synthetic_schools(profiles, scale=0.002, seed=2026)
    write_gias_csv(schools, "schools.csv")                # then `gateway schools import schools.csv`
    for school in schools:
        profile = by_key[(school.la_code, school.phase)]
        pupils = synthetic_pupils(school, profile, 2025, seed=2026)
        for day in school_days(dt.date(2025, 9, 1), dt.date(2025, 12, 31)):
            body = feed_csv(daily_register(school, pupils, profile, day, seed=2026))
            # PUT /v1/schools/{school.urn}/attendance/{day}

Assumptions that are not in the published data are named constants below, each with its reason.

The package is pure: it makes data and writes files, and imports nothing of the gateway's shell; its
modules follow the order in which the data is made (profiles, seeds, calendar, schools, rolls, names,
GIAS file, absence model, pupils, registers).
"""

from synthetic.absence import DEFAULT_PA_WINDOW_SESSIONS
from synthetic.calendar import Term, is_school_day, school_days, term_dates
from synthetic.gias import GIAS_COLUMNS, write_gias_csv
from synthetic.profiles import PHASES, REASON_COLUMNS, LaProfile, load_la_profiles
from synthetic.pupils import SyntheticPupil, synthetic_pupils
from synthetic.registers import FEED_COLUMNS, daily_register, feed_csv
from synthetic.rolls import roll_size
from synthetic.schools import SyntheticSchool, synthetic_schools

__all__ = [
    "DEFAULT_PA_WINDOW_SESSIONS",
    "FEED_COLUMNS",
    "GIAS_COLUMNS",
    "PHASES",
    "REASON_COLUMNS",
    "LaProfile",
    "SyntheticPupil",
    "SyntheticSchool",
    "Term",
    "daily_register",
    "feed_csv",
    "is_school_day",
    "load_la_profiles",
    "roll_size",
    "school_days",
    "synthetic_pupils",
    "synthetic_schools",
    "term_dates",
    "write_gias_csv",
]
