"""`gateway demo` as a new user runs it: one progress display, the structured log in a file, and a
summary that says what the run changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]


def _demo(data_dir: Path) -> tuple[dict, str]:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(data_dir),
           "GATEWAY_DATABASE_URL": f"sqlite:///{data_dir / 'g.db'}"}
    command = [*GATEWAY, "demo", "--scale", "0.0003", "--days", "2", "--no-serve"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), done.stderr


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
