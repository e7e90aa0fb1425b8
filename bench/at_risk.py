"""Measure the at-risk rule: its precision and recall on held-out synthetic schools.

    python bench/at_risk.py                            # 1% of England's schools, seed 7, 2025/26
    python bench/at_risk.py --scale 0.02 --seed 11 --year 2025 --point 2025-12-19

Synthetic schools are drawn with a seed the demo and the tests do not use (held out: other schools,
other pupils), and every school day of two academic years is registered for them in memory (the
settled registers, as `synthetic.daily_register` makes them). At ``--point`` (default: the last day
of the autumn term) each pupil's record is what the gateway's roster would hold: possible sessions
and absence so far, the same over the last four school weeks with registers, and last year's totals.
The catalogue's rule (``[school_reports.at_risk]``, applied by ``policies.at_risk``, the code the
gateway runs) flags pupils; the outcome is persistent absence over the whole year (``policies.
thresholds``: 10% or more of possible sessions). Pupils already persistently absent at the point, or
with fewer possible sessions than the rule needs, are not candidates, as in the rule; the rest are
the population. Prints the counts, the base rate, precision and recall overall and per reason.

The data are synthetic, so this checks the rule's mechanics against the generator's assumptions (year
to year drift, pupils whose attendance falls during the year), not its accuracy on real pupils.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import synthetic  # noqa: E402
from policies import at_risk  # noqa: E402
from policies.loader import load_catalogue  # noqa: E402
from policies.thresholds import PERSISTENT_ABSENCE_PERCENT, is_persistent  # noqa: E402
from schemas.calendar import academic_year_bounds, academic_year_label  # noqa: E402
from schemas.codes import CURRENT_CODES, StatClass  # noqa: E402

ABSENT = frozenset(c for c, k in CURRENT_CODES.items() if k in (StatClass.AUTHORISED, StatClass.UNAUTHORISED))
NOT_POSSIBLE = frozenset(c for c, k in CURRENT_CODES.items() if k is StatClass.NOT_COUNTED)
#: The reasons as `policies.at_risk` words them, by their opening words.
REASONS = {"attendance in the last": "recent fall", "persistently absent last year": "absent last year",
           "absence so far this year": "near the line"}


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass
class Tally:
    """A pupil's sessions in one academic year: totals, and (possible, absent) per week of the year."""

    possible: int = 0
    absent: int = 0
    weeks: dict[int, list[int]] | None = None


def year_days(year: int) -> list[dt.date]:
    terms = synthetic.term_dates(year)
    return synthetic.school_days(terms[0].start, terms[-1].end)


def register_year(school, profile, year: int, seed: int, *, weekly: bool) -> dict[str, Tally]:
    """Every pupil's tally over the year's registers (with weekly counters when asked)."""
    pupils = synthetic.synthetic_pupils(school, profile, year, seed)
    tallies = {p.upn: Tally(weeks={} if weekly else None) for p in pupils}
    start, _ = academic_year_bounds(year)
    monday = start - dt.timedelta(days=start.weekday())
    for day in year_days(year):
        week = (day - monday).days // 7
        for row in synthetic.daily_register(school, pupils, profile, day, seed):
            am, pm = row["am"], row["pm"]
            possible = (am not in NOT_POSSIBLE) + (pm not in NOT_POSSIBLE)
            absent = (am in ABSENT) + (pm in ABSENT)
            tally = tallies[str(row["upn"])]
            tally.possible += possible
            tally.absent += absent
            if tally.weeks is not None:
                counters = tally.weeks.setdefault(week, [0, 0])
                counters[0] += possible
                counters[1] += absent
    return tallies


def record_at(
    tally: Tally, prior: Tally | None, last_week: int, recent_weeks: list[int]
) -> at_risk.PupilRecord:
    """What the roster holds at the point: the weeks up to it, the recent ones, last year's totals."""
    assert tally.weeks is not None
    so_far = [c for w, c in tally.weeks.items() if w <= last_week]
    recent = [tally.weeks[w] for w in recent_weeks if w in tally.weeks]
    return at_risk.PupilRecord(
        possible=sum(c[0] for c in so_far),
        absent=sum(c[1] for c in so_far),
        recent_possible=sum(c[0] for c in recent),
        recent_absent=sum(c[1] for c in recent),
        prior_possible=prior.possible if prior else None,
        prior_absent=prior.absent if prior else None,
    )


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=0.01, help="fraction of England's schools")
    parser.add_argument("--seed", type=int, default=7, help="held out: the demo and the tests use 2026")
    parser.add_argument("--year", type=int, default=2025, help="the year evaluated (2025 = 2025/26)")
    parser.add_argument("--point", type=dt.date.fromisoformat, default=None,
                        help="the day the rule is applied (default: the last day of the autumn term)")
    args = parser.parse_args()
    if args.seed == 2026:
        parser.error("seed 2026 is the demo's and the tests': pick another to hold the schools out")
    rule = load_catalogue().school_reports.at_risk
    point = args.point or synthetic.term_dates(args.year)[1].end
    start, _ = academic_year_bounds(args.year)
    monday = start - dt.timedelta(days=start.weekday())
    last_week = (point - monday).days // 7
    school_weeks = sorted({(d - monday).days // 7 for d in year_days(args.year) if d <= point})
    recent_weeks = school_weeks[-rule.recent_weeks:]

    profiles = synthetic.load_la_profiles()
    by_key = {(p.old_la_code, p.phase): p for p in profiles}
    schools = [s for s in synthetic.synthetic_schools(profiles, args.scale, args.seed) if s.status == "Open"]
    say(f"at-risk rule on held-out synthetic data: {len(schools)} schools (scale {args.scale}, seed "
        f"{args.seed}), {academic_year_label(args.year - 1)} then {academic_year_label(args.year)}, rule "
        f"applied on {point.isoformat()}, outcome persistent absence (>= {PERSISTENT_ABSENCE_PERCENT}%) "
        "at the year's end")
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    by_phase: dict[str, Counter[str]] = {}
    for school in schools:
        profile = by_key[(school.la_code, school.phase)]
        prior = register_year(school, profile, args.year - 1, args.seed, weekly=False)
        this = register_year(school, profile, args.year, args.seed, weekly=True)
        phase = by_phase.setdefault(school.phase, Counter())
        for upn, tally in this.items():
            counts["pupils"] += 1
            record = record_at(tally, prior.get(upn), last_week, recent_weeks)
            if record.possible < rule.min_possible_sessions:
                counts["too few sessions"] += 1
                continue
            if is_persistent(record.absent, record.possible):
                counts["already persistently absent"] += 1
                continue
            outcome = is_persistent(tally.absent, tally.possible)
            reasons = [REASONS[next(k for k in REASONS if r.startswith(k))]
                       for r in at_risk.reasons(record, rule)]
            for tally_ in (counts, phase):
                tally_["candidates"] += 1
                tally_["persistent at year end"] += outcome
                tally_["flagged"] += bool(reasons)
                tally_["flagged and persistent"] += bool(reasons) and outcome
            for reason in reasons:
                counts[f"{reason}: flagged"] += 1
                counts[f"{reason}: persistent"] += outcome
    elapsed = time.perf_counter() - started

    say(f"pupils {counts['pupils']:,}; not candidates: {counts['already persistently absent']:,} already "
        f"persistently absent at the point, {counts['too few sessions']:,} with fewer than "
        f"{rule.min_possible_sessions} possible sessions")
    for label, c in (("all", counts), *sorted(by_phase.items())):
        flagged, hits, positives = c["flagged"], c["flagged and persistent"], c["persistent at year end"]
        candidates = c["candidates"]
        say(f"[{label}] candidates {candidates:,}; persistent at year end {positives:,} (base rate "
            f"{percent(positives, candidates)}); flagged {flagged:,} ({percent(flagged, candidates)}), "
            f"of whom persistent {hits:,}: precision {percent(hits, flagged)}, "
            f"recall {percent(hits, positives)}")
    for reason in REASONS.values():
        flagged, hits = counts[f"{reason}: flagged"], counts[f"{reason}: persistent"]
        say(f"  reason '{reason}': flagged {flagged:,}, persistent at year end {hits:,} "
            f"(precision {percent(hits, flagged)}, recall {percent(hits, counts['persistent at year end'])})")
    say(f"registered {len(schools)} schools x 2 years in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
