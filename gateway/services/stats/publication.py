"""Published shapes of an answer: its JSON table (rows, LA names, regions as sums of LA cells, the
noise), and a bundle's one CSV in the layout of DfE's open data."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources
from typing import Any

from anonymisation import cell_keysets
from anonymisation import dp as adp
from gateway.services.stats.questions import Question, Table

# --------------------------------------------------------------------------------------------------
# Published shapes: JSON rows and DfE's open-data CSV
# --------------------------------------------------------------------------------------------------


@cache
def _la_names() -> dict[str, cell_keysets.LocalAuthority]:
    return {la.old_la_code: la for la in cell_keysets.local_authorities()}


def table_body(table: Table, plan: adp.NoisePlan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    las = _la_names()
    published = []
    for row in rows:
        if "la_code" in row:
            row = {"la_code": row["la_code"], "la_name": las[row["la_code"]].la_name} | row
        published.append(row)
    body: dict[str, Any] = {
        "measure": table.measure,
        "by": list(table.by),
        **({"weekly": True} if table.weekly else {}),
        "allotment_units": plan.allotment_units,
        "rows": published,
    }
    if "la" in table.by:
        body["regions"] = _regions(table, plan, rows)
    return body | {
        "noise": [
            {
                "statistic": p.name,
                "kind": p.statistic.kind,
                "sensitivity": p.statistic.sensitivity,
                "mechanism": adp.MECHANISM_LABELS[p.mechanism],
                "scale": p.scale,
                "noise_sd": p.noise_sd,
                "half_width_95": p.half_width_95,
                "half_width_97_5": p.half_width(adp.RATE_COMPONENT_ALPHA),
                "rho": p.rho,
                "units": p.units,
                "reused": p.reused,
            }
            for p in plan.planned
        ],
        "interval": "95% for counts; for rates a union bound over the noisy numerator and denominator, "
        "each at 97.5%; intervals cover the noise only and are per cell, not simultaneous; a region's "
        "interval bounds the sum of its LAs' noise (sub-Gaussian tail)",
    }


def _regions(table: Table, plan: adp.NoisePlan, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each region's cells as sums of its LAs' published noisy measurements (post-processing, free):
    where LA cells of small groups (special schools) miss 0.5 pp and are marked ``u``, the region
    meets it. Withheld LA cells (``c``, ``z``) are left out of the sums, and counted, so that no sum
    minus the published cells gives a withheld cell back."""
    las, regions = _la_names(), region_codes()
    others = ["week"] if table.weekly else []
    others += [cell_keysets.DIMENSION_COLUMNS[d] for d in table.by if d != "la"]
    statistics = adp.measure(table.measure).statistics
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        la = las[row["la_code"]]
        key = (regions.get(row["la_code"], ""), la.region_name, *(row[c] for c in others))
        group = groups.setdefault(key, {"sums": dict.fromkeys(statistics, 0), "cells": 0, "withheld": 0})
        if row["noisy"] is None:
            group["withheld"] += 1
            continue
        group["cells"] += 1
        for name in statistics:
            group["sums"][name] += row["noisy"][name]
    out = []
    for (code, name, *values), group in sorted(groups.items(), key=lambda g: tuple(map(str, g[0]))):
        keys = {"region_code": code, "region_name": name} | dict(zip(others, values, strict=True))
        counts = {"las": group["cells"], "las_withheld": group["withheld"]}
        if group["cells"] == 0:
            symbol = adp.SYMBOL_NOT_AVAILABLE
            out.append(keys | counts | {"value": symbol, "ci95": None, "reliability": None, "symbol": symbol})
            continue
        out.append(keys | counts | adp.publish_sum(table.measure, {}, group["sums"], group["cells"], plan))
    return out


#: DfE's column names where DfE publishes the measure (``pa_perc`` in its attendance files).
_CSV_MEASURE_COLUMNS = {
    "enrolments": "enrolments",
    "overall_absence_rate": "overall_absence_perc",
    "authorised_absence_rate": "authorised_absence_perc",
    "unauthorised_absence_rate": "unauthorised_absence_perc",
    "persistent_absence_rate": "pa_perc",
    "severe_absence_rate": "severe_absence_perc",
}
_SEN_LABELS = {"N": "No SEN", "K": "SEN support", "E": "EHC plan"}
_ENGLAND = ("E92000001", "England")


@cache
def region_codes() -> dict[str, str]:
    """Region code of each LA, from DfE's published file shipped with the gateway (public data)."""
    source = resources.files("gateway.data").joinpath("dfe-pupil-attendance-ytd-2025-26.csv")
    text = source.read_text(encoding="utf-8-sig")
    return {
        r["old_la_code"]: r["region_code"]
        for r in csv.DictReader(io.StringIO(text, newline=""))
        if r["old_la_code"]
    }


def _year_group_label(value: str) -> str:
    return "Reception" if value == "R" else f"Year {value}"


def bundle_csv(question: Question, tables: list[dict[str, Any]]) -> str:
    """One tidy file in the layout of DfE's open data (Explore Education Statistics): time and
    geography columns, filter columns (``Total`` when a table is not split by them), then each
    measure's value and interval. Rates are percentages, unrounded. Symbols (docs/domain.md 2.4): ``c``
    withheld under the single-school convention, ``x``
    not available (no rate over a non-positive noisy denominator, or a measure not in that table),
    ``z`` not applicable; the ``_reliability`` column holds ``u`` for low reliability. A rate's noisy
    numerator and denominator follow it (``_noisy_numerator``, ``_noisy_denominator``); an LA table's
    regions (sums of its published LA cells) are rows of ``geographic_level`` ``Regional``."""
    measures = list(dict.fromkeys(t["measure"] for t in tables))
    header = [
        "time_period",
        "time_identifier",
        "period_start",
        "period_end",
        "geographic_level",
        "country_code",
        "country_name",
        "region_code",
        "region_name",
        "old_la_code",
        "new_la_code",
        "la_name",
        "education_phase",
        "year_group",
        "sen_status",
        "fsm_status",
    ]
    weekly = any(t.get("weekly") for t in tables)
    if weekly:
        header.insert(header.index("period_end") + 1, "week_commencing")
    for m in measures:
        col = _CSV_MEASURE_COLUMNS[m]
        header += [col, f"{col}_lower95", f"{col}_upper95", f"{col}_reliability"]
        if adp.measure(m).denominator is not None:
            header += [f"{col}_noisy_numerator", f"{col}_noisy_denominator"]
    year = question.window.academic_year
    # Tables with the same grouping share rows, one column group per measure.
    merged: dict[tuple[tuple[str, ...], tuple[Any, ...]], dict[str, Any]] = {}
    las, regions = _la_names(), region_codes()
    for table in tables:
        col = _CSV_MEASURE_COLUMNS[table["measure"]]
        spec = adp.measure(table["measure"])
        percent = table["measure"] != "enrolments"
        lines = [(r, False) for r in table["rows"]] + [(r, True) for r in table.get("regions", [])]
        for row, regional in lines:
            place = ("region", row["region_code"]) if regional else ("la", row.get("la_code"))
            key_values = (*place, *(row.get(c) for c in ("week", "phase", "year_group", "sen_status", "fsm")))
            keys = _csv_keys(question, year, row, las, regions)
            if weekly:
                keys["week_commencing"] = row.get("week", "Total")
            if regional:
                keys |= {"geographic_level": "Regional", "region_code": row["region_code"],
                         "region_name": row["region_name"]}
            out = merged.setdefault((tuple(table["by"]), key_values), keys)
            if spec.denominator is not None:
                noisy = row.get("noisy") or {}
                out[f"{col}_noisy_numerator"] = noisy.get(spec.numerator, row["value"])
                out[f"{col}_noisy_denominator"] = noisy.get(spec.denominator, row["value"])
            value, ci = row["value"], row["ci95"]
            if isinstance(value, str):
                out.update(
                    {col: value, f"{col}_lower95": value, f"{col}_upper95": value, f"{col}_reliability": ""}
                )
                continue
            scale = 100 if percent else 1
            out.update(
                {
                    col: value * scale,
                    f"{col}_lower95": ci[0] * scale,
                    f"{col}_upper95": ci[1] * scale,
                    f"{col}_reliability": row["symbol"] or "",
                }
            )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval=adp.SYMBOL_NOT_AVAILABLE, lineterminator="\n")
    writer.writeheader()
    for out in merged.values():
        writer.writerow(out)
    return buffer.getvalue()


def _csv_keys(
    question: Question,
    year: int,
    row: dict[str, Any],
    las: dict[str, cell_keysets.LocalAuthority],
    regions: dict[str, str],
) -> dict[str, Any]:
    la = las.get(row["la_code"]) if "la_code" in row else None
    return {
        "time_period": f"{year}{(year + 1) % 100:02d}",
        "time_identifier": "Academic year",
        "period_start": question.window.start.isoformat(),
        "period_end": question.window.end.isoformat(),
        "geographic_level": "Local authority" if la else "National",
        "country_code": _ENGLAND[0],
        "country_name": _ENGLAND[1],
        "region_code": regions.get(la.old_la_code, "") if la else "",
        "region_name": la.region_name if la else "",
        "old_la_code": la.old_la_code if la else "",
        "new_la_code": la.new_la_code if la else "",
        "la_name": la.la_name if la else "",
        "education_phase": row["phase"].capitalize() if "phase" in row else "Total",
        "year_group": _year_group_label(row["year_group"]) if "year_group" in row else "Total",
        "sen_status": _SEN_LABELS[row["sen_status"]] if "sen_status" in row else "Total",
        "fsm_status": ("FSM eligible" if row["fsm"] else "FSM not eligible") if "fsm" in row else "Total",
    }
