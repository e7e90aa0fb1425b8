"""Benchmark the similar-schools groups for every open school in England (21,292 schools).

    python bench/similar_schools.py              # England's mix of phases, 3 runs
    python bench/similar_schools.py --schools 5000 --runs 5

Schools are made up with England's phase mix (about 16,700 primary, 3,450 secondary, 1,050 special,
the rest alternative provision and all-through), with FSM and SEN shares, sizes, regions and types
drawn at random, and grouped with the shipped catalogue's rule. Prints wall and CPU seconds per run,
CPU microseconds per school, and the peak memory of the process. Target: under 10 s.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies.loader import load_catalogue  # noqa: E402
from policies.similarity import SchoolCharacteristics, similar_schools  # noqa: E402

PHASES = (("Primary", 0.785), ("Secondary", 0.162), ("Not applicable", 0.049), ("All-through", 0.004))
REGIONS = ("North East", "North West", "Yorkshire and the Humber", "East Midlands", "West Midlands",
           "East of England", "London", "South East", "South West")
TYPES = ("Academy", "Local authority maintained", "Free school", "Special", "Alternative provision")


def england(count: int, seed: int) -> list[SchoolCharacteristics]:
    rng = random.Random(seed)
    phases, weights = zip(*PHASES, strict=True)
    schools = []
    for i in range(count):
        phase = rng.choices(phases, weights)[0]
        fsm = min(0.9, max(0.0, rng.gauss(0.25, 0.13)))
        schools.append(SchoolCharacteristics(
            urn=100000 + i, phase=phase, type_group=rng.choice(TYPES),
            religious_character=rng.choice((None, None, "Church of England", "Roman Catholic")),
            admissions_policy=rng.choice(("Non-selective",) * 19 + ("Selective",)),
            region=rng.choice(REGIONS), size=int(rng.lognormvariate(5.7, 0.6)),
            fsm_share=fsm, sen_support_share=min(0.6, max(0.0, rng.gauss(0.13, 0.05))),
            ehc_plan_share=min(0.5, max(0.0, rng.gauss(0.025, 0.015))),
        ))
    return schools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=21_292)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rule = load_catalogue().school_reports.similar_schools
    schools = england(args.schools, seed=2026)
    print(f"{args.schools:,} schools, groups of {rule.group_size}")
    walls, cpus = [], []
    for run in range(1, args.runs + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        groups = similar_schools(schools, rule)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        walls.append(wall)
        cpus.append(cpu)
        assert len(groups) == args.schools
        print(f"run {run}: {wall:.2f} s wall, {cpu:.2f} s CPU, {1e6 * cpu / args.schools:.0f} us CPU per school")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"median {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU; "
          f"peak memory {peak:.0f} MiB (target: under 10 s)")


if __name__ == "__main__":
    main()
