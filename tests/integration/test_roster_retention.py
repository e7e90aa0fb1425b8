"""Retention takes a year's rosters with the rest of its registers: they hold the pupils' ids."""

from __future__ import annotations

from gateway.db.models import Roster
from tests.conftest import Gateway
from tests.integration.test_retention import AS_OF, cli, count, own  # noqa: F401  (own is a fixture)


def test_retention_deletes_the_rosters_of_the_year_it_shreds_and_keeps_the_others(
        own: Gateway) -> None:  # noqa: F811
    assert count(own, Roster, 2018) == 1 and count(own, Roster, 2025) == 1
    code, out = cli(own, "retention", "run", "--as-of", AS_OF)
    assert code == 0, out
    assert count(own, Roster, 2018) == 0 and count(own, Roster, 2025) == 1
    assert cli(own, "stats", "rebuild", "--check")[0] == 0
