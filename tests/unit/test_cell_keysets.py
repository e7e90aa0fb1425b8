"""The public key sets: what cells a statistics release can ever have."""

from __future__ import annotations

import json

import pytest

from anonymisation import cell_keysets


def test_there_are_exactly_153_local_authorities_with_unique_codes() -> None:
    las = cell_keysets.local_authorities()
    assert len(las) == 153
    assert len({la.old_la_code for la in las}) == 153
    assert len({la.new_la_code for la in las}) == 153
    assert all(len(la.old_la_code) == 3 and la.old_la_code.isdigit() for la in las)
    # GSS codes: E06 unitary, E08 metropolitan, E09 London borough, E10 county.
    assert {la.new_la_code[:3] for la in las} == {"E06", "E08", "E09", "E10"}
    assert all(len(la.new_la_code) == 9 for la in las)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("201", "City of London"),
        ("420", "Isles of Scilly"),
        ("942", "Cumberland"),
        ("943", "Westmorland and Furness"),
    ],
)
def test_the_smallest_and_the_newest_las_are_in_the_key_set(code: str, name: str) -> None:
    names = {la.old_la_code: la.la_name for la in cell_keysets.local_authorities()}
    assert names[code] == name


def test_cumbria_which_no_longer_exists_is_not_in_the_key_set() -> None:
    assert "909" not in cell_keysets.values_for("la")


def test_every_la_has_a_region() -> None:
    regions = {la.region_name for la in cell_keysets.local_authorities()}
    assert len(regions) == 9
    assert "London" in regions


def test_the_other_dimensions_have_their_documented_values_in_order() -> None:
    assert cell_keysets.values_for("phase") == ("primary", "secondary", "special")
    assert cell_keysets.values_for("year_group") == (
        "R", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"
    )
    assert cell_keysets.values_for("sen_status") == ("N", "K", "E")
    assert cell_keysets.values_for("fsm") == (False, True)


def test_la_values_are_the_three_digit_codes_in_order() -> None:
    codes = cell_keysets.values_for("la")
    assert codes == tuple(sorted(codes))
    assert codes[0] == "201"


def test_keys_are_the_full_cross_product() -> None:
    assert len(cell_keysets.keys_for(["la", "phase"])) == 153 * 3
    every = ["la", "phase", "year_group", "sen_status", "fsm"]
    assert len(cell_keysets.keys_for(every)) == 153 * 3 * 12 * 3 * 2
    cells = cell_keysets.keys_for(["sen_status", "fsm"])
    assert cells == [
        {"sen_status": "N", "fsm": False},
        {"sen_status": "N", "fsm": True},
        {"sen_status": "K", "fsm": False},
        {"sen_status": "K", "fsm": True},
        {"sen_status": "E", "fsm": False},
        {"sen_status": "E", "fsm": True},
    ]


def test_cells_are_keyed_by_pupil_row_columns() -> None:
    assert cell_keysets.keys_for(["la"])[0] == {"la_code": "201"}


def test_the_order_of_a_request_does_not_change_the_cells_or_their_order() -> None:
    assert cell_keysets.keys_for(["phase", "la"]) == cell_keysets.keys_for(["la", "phase"])
    assert cell_keysets.canonical_by(["fsm", "la"]) == ("la", "fsm")


def test_no_grouping_is_one_national_cell() -> None:
    assert cell_keysets.keys_for([]) == [{}]


def test_an_unknown_dimension_is_refused() -> None:
    with pytest.raises(cell_keysets.UnknownDimension):
        cell_keysets.keys_for(["school_urn"])
    with pytest.raises(cell_keysets.UnknownDimension):
        cell_keysets.values_for("postcode")


def test_a_dimension_named_twice_is_refused() -> None:
    with pytest.raises(cell_keysets.UnknownDimension):
        cell_keysets.keys_for(["la", "la"])


def _row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "la_code": "201",
        "phase": "primary",
        "year_group": "R",
        "sen_status": "N",
        "fsm": False,
    }
    return row | overrides


def test_a_row_with_every_attribute_in_the_key_sets_is_in_scope() -> None:
    assert cell_keysets.in_scope(_row())


@pytest.mark.parametrize(
    "overrides",
    [
        {"la_code": "909"},
        {"phase": "nursery"},
        {"year_group": "12"},
        {"year_group": "N2"},
        {"sen_status": "S"},
    ],
)
def test_a_row_with_any_attribute_outside_the_key_sets_is_out_of_scope(overrides: dict[str, object]) -> None:
    assert not cell_keysets.in_scope(_row(**overrides))


def test_the_shipped_file_carries_the_version_the_code_expects() -> None:
    assert cell_keysets.KEYSET_VERSION == "v1"
    assert cell_keysets.parse_keyset_document(json.dumps({"version": "v1"})) == {"version": "v1"}


def test_a_key_set_file_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="v2"):
        cell_keysets.parse_keyset_document(json.dumps({"version": "v2"}))


def test_key_tuples_insist_on_canonical_order() -> None:
    assert cell_keysets.key_tuples(("la", "phase"))[0] == ("201", "primary")
    with pytest.raises(cell_keysets.UnknownDimension):
        cell_keysets.key_tuples(("phase", "la"))
