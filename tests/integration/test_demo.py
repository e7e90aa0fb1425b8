"""`gateway demo` as a new user runs it: one progress display, the structured log in a file, and a
summary that says what the run changed."""

from __future__ import annotations

import json
import os
from collections import Counter
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

import synthetic
from gateway.cli import demo
from gateway.demo import _largest_trust
from gateway.keys.idp import mint_token
from gateway.main import create_app
from gateway.settings import Settings

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]


def _demo(data_dir: Path, *options: str) -> tuple[dict, str]:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(data_dir),
           "GATEWAY_DATABASE_URL": f"sqlite:///{data_dir / 'g.db'}"}
    command = [*GATEWAY, "demo", "--scale", "0.0003", "--days", "2", "--prior-days", "2", *options,
               "--no-serve"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), done.stderr


def test_at_its_default_scale_and_seed_the_demo_offers_a_trust_officer_several_open_schools(
    tmp_path: Path,
) -> None:
    defaults = {p.name: p.default for p in demo.params}
    schools = synthetic.synthetic_schools(synthetic.load_la_profiles(), defaults["scale"], defaults["seed"])
    gias = tmp_path / "gias.csv"
    synthetic.write_gias_csv(schools, gias)

    uid = _largest_trust(gias)
    open_schools = Counter(s.trust_uid for s in schools if s.status == "Open" and s.trust_uid)
    assert uid is not None and open_schools[uid] == max(open_schools.values()) >= 3


def test_the_demo_shows_progress_logs_to_a_file_and_a_rerun_says_nothing_changed(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first, progress = _demo(data_dir)
    assert first["registers"] == first["registers_changed"] > 0 and first["registers_unchanged"] == 0
    assert first["schools_new"] == first["schools"] > 0
    # The terminal gets the progress display, not the log: a handful of lines whatever the scale.
    lines = [line for line in progress.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 5, progress
    assert "pupil-days" in progress and "feed_stored" not in progress
    log = Path(first["log"])
    assert log.parent == data_dir / "logs"
    assert log.read_text().count("feed_stored") == first["registers"]

    again, _ = _demo(data_dir)
    assert again["registers"] == first["registers"] and again["pupil_days"] == first["pupil_days"]
    assert again["registers_changed"] == 0 and again["registers_unchanged"] == again["registers"]
    assert again["schools_new"] == 0
    # Last year first, then this term, each said in the summary; the snapshot is not paid for twice.
    assert [y["school_days"] for y in first["years"]] == [2, 2]
    last_year, this_year = first["years"]
    assert int(last_year["academic_year"][:4]) + 1 == int(this_year["academic_year"][:4])
    assert last_year["report_snapshot"]["built"] and not again["years"][0]["report_snapshot"]["built"]
    assert sum(y["registers"] for y in first["years"]) == first["registers"]
    assert 0 < this_year["pupils_on_roll_the_year_before"] < this_year["pupils"]


def test_after_two_years_a_report_has_an_abie_from_last_year_and_pupils_at_risk_include_last_years_absent(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    summary, _ = _demo(data_dir, "--scale", "0.001", "--days", "12", "--prior-days", "15")
    last_year, this_year = summary["years"]
    year = int(this_year["academic_year"][:4])
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'g.db'}", env="dev")
    urns = [s.urn for s in synthetic.synthetic_schools(synthetic.load_la_profiles(), 0.001, 2026)
            if s.status == "Open"]

    def auth(urn: int) -> dict[str, str]:
        token = mint_token(data_dir, org_type="school", org_id=str(urn), roles=["attendance_officer"],
                           issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        return {"Authorization": f"Bearer {token}"}

    abies, last_year_absent = [], []
    with TestClient(create_app(settings)) as client:
        for urn in urns:
            report = client.get(f"/v1/schools/{urn}/report", headers=auth(urn))
            assert report.status_code == 200, report.text
            abies.append(report.json()["abie"])
            at_risk = client.get(f"/v1/schools/{urn}/pupils-at-risk", headers=auth(urn))
            assert at_risk.status_code == 200, at_risk.text
            last_year_absent += [p for p in at_risk.json()["pupils"]
                                 if any(r.startswith("persistently absent last year") for r in p["reasons"])]

    # The prior year's snapshot is there for every school; whether a school's noisy prior attendance
    # can be estimated depends on the noise (a single school's cells are noisy), so some may lack one.
    assert not [a for a in abies if a.get("reason") == "no snapshot of the prior year to measure from"]
    available = [a for a in abies if a["available"]]
    assert available, abies
    for abie in available:
        assert (abie["academic_year"], abie["prior_year"]) == (year, year - 1)
        assert abie["target"] == round(min(100.0, abie["prior_attendance"] + abie["expectation_pp"]), 2)
        assert abie["learn_from"]
    assert last_year_absent
