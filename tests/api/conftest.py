from __future__ import annotations

from pathlib import Path

import pytest

from gateway.services.schools import import_gias
from tests.conftest import Gateway
from tests.factories import write_gias


@pytest.fixture
def loaded(gw: Gateway, tmp_path: Path) -> Gateway:
    """A gateway with the test register of schools imported."""
    import_gias(gw.runtime.sessions, write_gias(tmp_path / "gias.csv"))
    return gw
