"""A year's keys destroyed by retention while a request reads the year: a clear 410, never a 500."""

from __future__ import annotations

import pytest

from anonymisation.keys import KeyUnavailable
from gateway.services import releases as release_service
from tests.api.test_releases import JUSTIFICATION, WINDOW, camden, la_officer, release  # noqa: F401
from tests.conftest import Gateway
from tests.factories import pupil


def test_a_release_whose_year_is_shredded_while_it_is_made_is_410_and_releases_nothing(
    camden: Gateway, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    def shredded(*args: object, **kwargs: object) -> None:
        raise KeyUnavailable("the key of academic year 2025 was destroyed at the end of retention")

    monkeypatch.setattr(release_service, "decrypt_identities", shredded)
    r = release(camden, {"purpose": "la-severe-absence", "justification": JUSTIFICATION, **WINDOW},
                la_officer(camden))
    assert r.status_code == 410, r.text
    assert "retention" in r.json()["detail"] and "records" not in r.text
    assert pupil(3)["upn"] not in r.text and pupil(3)["forename"] not in r.text
