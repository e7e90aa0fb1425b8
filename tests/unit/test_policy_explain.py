"""`gateway policy show` and `explain` print what the catalogue says and what the decision point
decided, from the same objects the gateway uses."""

from __future__ import annotations

import datetime as dt

from policies.decide import decide
from policies.explain import describe_catalogue, describe_decision
from policies.loader import load_catalogue
from policies.model import ReleaseRequest, Requester, RequestFacts

CATALOGUE = load_catalogue()
NOW = dt.datetime(2025, 11, 14, 16, tzinfo=dt.UTC)
LA = Requester(org_type="la", org_id="202", roles=("case_officer",))


def test_the_catalogue_view_shows_every_purpose_with_its_basis_fields_and_retention():
    text = describe_catalogue(CATALOGUE)

    assert (
        text.splitlines()[1]
        == f"version {CATALOGUE.version}, sha256 {CATALOGUE.content_hash} (purposes.toml)"
    )
    for purpose in CATALOGUE.purposes:
        assert f"\n{purpose.id}: {purpose.title}\n" in text
    assert "  retention:     until 31 December of the pupil's Year 7\n" in text
    assert "  special category condition: UK GDPR Art 9(2)(g)" in text


def test_an_explained_allow_shows_the_reasons_and_the_acknowledgement():
    decision = decide(
        CATALOGUE,
        LA,
        ReleaseRequest(purpose="la-severe-absence", justification="Severe absence casework review"),
        RequestFacts(),
        now=NOW,
    )

    text = describe_decision(decision)

    assert text.startswith("decision: allow\npurpose: la-severe-absence\n")
    assert f"policy: version {CATALOGUE.version}, sha256 {CATALOGUE.content_hash}\n" in text
    assert "  - scope: schools in LA 202\n" in text
    assert "acknowledgement the requester must accept:\n  I will use these records only" in text


def test_an_explained_denial_shows_every_reason_and_no_acknowledgement():
    decision = decide(
        CATALOGUE, LA, ReleaseRequest(purpose="transition-y6-y7", justification=None), RequestFacts(), now=NOW
    )

    text = describe_decision(decision)

    assert text.startswith("decision: deny\n")
    assert "  - wrong_org_type: " in text
    assert "  - missing_justification: " in text
    assert "acknowledgement" not in text
