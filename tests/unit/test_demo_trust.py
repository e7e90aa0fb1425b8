"""The demo's summary names a trust for a trust officer's token: the one with most open schools."""

from __future__ import annotations

import csv
from pathlib import Path

from gateway.demo import _largest_trust


def _register(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="latin-1", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["URN", "EstablishmentStatus (name)", "Trusts (code)"])
        writer.writerows((100000 + n, status, trust) for n, (status, trust) in enumerate(rows))
    return path


def test_the_trust_with_most_open_schools_is_named(tmp_path: Path) -> None:
    rows = [("Open", "4021"), ("Open", "5000"), ("Open", "5000"), ("Closed", "4021"), ("Closed", "4021"),
            ("Open", "")]
    assert _largest_trust(_register(tmp_path / "gias.csv", rows)) == "5000"


def test_a_register_without_an_open_academy_names_none(tmp_path: Path) -> None:
    assert _largest_trust(_register(tmp_path / "gias.csv", [("Open", ""), ("Closed", "4021")])) is None
