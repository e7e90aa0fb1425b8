"""Oracle: OpenDP's own Polars Context, analysing the same release, agrees with ``plan_noise``.

``plan_noise`` derives the noise from sensitivities we argue by hand (docs/differential-privacy.md section 4). The
Context derives them itself from the query plan: group by public keys, count, clamped sums. Equal
scales mean the two analyses agree (docs/differential-privacy.md 3.2 and 4.7). Its released cells, exact aggregate
plus noise, must also sit within a few noise standard deviations of our reference aggregate.

Needs ``polars==1.36.1`` exactly (the version ``opendp[polars]==0.16.0`` pins), so it is skipped
where polars is absent.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

pl = pytest.importorskip("polars")

import opendp.prelude as dp  # noqa: E402

from anonymisation import cell_keysets  # noqa: E402
from anonymisation import dp as adp  # noqa: E402

BY = ["phase", "sen_status"]
SESSIONS_POSSIBLE = 190  # mid-year: the window, not the year, bounds each sum


def pupils(n: int, seed: int) -> list[adp.PupilYear]:
    """Synthetic pupils, with no special-school EHC pupils so one public cell is empty."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible synthetic data, not secrets or noise
    rows = []
    for _ in range(n):
        phase = rng.choices(["primary", "secondary", "special"], weights=[55, 43, 2])[0]
        sen = "K" if phase == "special" else rng.choices(["N", "K", "E"], weights=[83, 13, 4])[0]
        possible = rng.choice([0, rng.randint(1, 190), rng.randint(150, 190)])
        absent = min(possible, int(rng.expovariate(1 / (0.08 * possible + 1))))
        rows.append(
            adp.PupilYear(
                la_code="201",
                phase=phase,
                year_group="5",
                sen_status=sen,
                fsm=False,
                possible=possible,
                authorised=absent,
                unauthorised=0,
            )
        )
    return rows


@pytest.fixture(scope="module")
def data() -> tuple[list[adp.PupilYear], Any]:
    rows = pupils(3_000, seed=7)
    clamped = [adp.clamp_pupil_year(r, SESSIONS_POSSIBLE) for r in rows]
    frame = pl.DataFrame(
        {
            "phase": [r.phase for r in clamped],
            "sen_status": [r.sen_status for r in clamped],
            "possible": [r.possible for r in clamped],
            "absent": [r.absent for r in clamped],
        },
        schema={"phase": pl.String, "sen_status": pl.String, "possible": pl.Int64, "absent": pl.Int64},
    )
    return rows, frame.lazy()


def key_frame() -> Any:
    return pl.DataFrame(cell_keysets.keys_for(BY), schema={"phase": pl.String, "sen_status": pl.String})


def context_query(frame: Any, loss: Any, aggregates: list[Any]) -> Any:
    context = dp.Context.compositor(
        data=frame,
        privacy_unit=dp.unit_of(contributions=1),
        privacy_loss=loss,
        split_evenly_over=1,
        margins=[dp.polars.Margin(by=[], max_length=1_000_000)],
    )
    return (
        context.query()
        # The same scope rule as exact_aggregate: pupils with no possible sessions are out.
        .filter(pl.col("possible") > 0)
        .with_columns(pa=(pl.col("absent") * 10 >= pl.col("possible")).cast(pl.Int64))
        .group_by(*BY)
        .agg(*aggregates)
        .with_keys(key_frame())
    )


def summary_by_column(measurement: dp.Measurement) -> dict[str, dict[str, Any]]:
    summary = dp.summarize_polars_measurement(measurement, alpha=adp.PUBLICATION_ALPHA)
    return {row["column"]: row for row in summary.iter_rows(named=True)}


def assert_release_matches_reference(
    measurement: dp.Measurement, frame: Any, rows: list[adp.PupilYear], plan: adp.NoisePlan
) -> None:
    exact = adp.exact_aggregate(rows, BY, SESSIONS_POSSIBLE)
    released = measurement(frame).collect().with_columns(pl.col(BY).cast(pl.String))
    assert released.height == len(exact.keys) == 9
    noisy = {(r["phase"], r["sen_status"]): r for r in released.iter_rows(named=True)}
    empty = exact.keys.index({"phase": "special", "sen_status": "E"})
    assert all(exact.columns[name][empty] == 0 for name in plan.names)
    for i, key in enumerate(exact.keys):
        cell = noisy[(key["phase"], key["sen_status"])]
        for name in plan.names:
            # Six standard deviations: a correct pair of aggregates misses with probability < 1e-7.
            assert abs(cell[name] - exact.columns[name][i]) <= 6 * plan[name].noise_sd + 1, (key, name)


def test_the_opendp_context_gives_the_same_discrete_gaussian_scales_for_a_count_and_a_sum(data: Any) -> None:
    rows, frame = data
    rho = 0.3
    # Resolve once: summarize() and release() would each rerun the Context's scale search (seconds).
    measurement = context_query(
        frame,
        dp.loss_of(rho=rho),
        [dp.len(signed=True).alias("enrolments"), pl.col("possible").dp.sum((0, SESSIONS_POSSIBLE))],
    ).resolve()
    summary = summary_by_column(measurement)
    # The Context gives each aggregate of a query the same rho, so the matching plan is equal weights.
    stats = [adp.statistic(n, SESSIONS_POSSIBLE) for n in ("enrolments", "possible")]
    plan = adp.plan_noise(stats, adp.rho_to_units_down(rho))
    for name in plan.names:
        assert summary[name]["distribution"] == "Integer Gaussian"
        assert plan[name].scale == pytest.approx(summary[name]["scale"], rel=1e-9), name
        assert plan[name].half_width_95 == int(summary[name]["accuracy"]), name
    assert plan["possible"].scale == pytest.approx(SESSIONS_POSSIBLE * plan["enrolments"].scale, rel=1e-9)
    assert measurement.map(1) == pytest.approx(plan.rho_spent, rel=1e-9)
    assert_release_matches_reference(measurement, frame, rows, plan)


def measurement_at_global_scale(query: Any, global_scale: float) -> tuple[dp.Measurement, Any, Any]:
    """OpenDP's Polars analysis of a Context query at a given global scale, with the query's d_in, d_out.

    ``LazyFrameQuery.resolve()`` binary-searches this same constructor for the smallest scale within
    d_out; for the discrete Laplace that search takes 5-20 s here (about 600 steps, each
    re-serialising the plan), so we evaluate OpenDP's map at our scale and just below it instead.
    This reads two private attributes of the query; opendp is pinned at 0.16.0.
    """
    plan = object.__getattribute__(query, "polars_plan")
    inner = object.__getattribute__(query, "_query")
    input_domain, input_metric = inner._chain
    measurement = dp.m.make_private_lazyframe(
        input_domain, input_metric, inner._output_measure, plan, global_scale=global_scale
    )
    return measurement, inner._d_in, inner._d_out


def test_the_opendp_context_settles_on_the_same_discrete_laplace_scales_for_a_count_and_a_sum(
    data: Any,
) -> None:
    rows, frame = data
    query = context_query(
        frame,
        dp.loss_of(epsilon=1.0),
        [pl.col("pa").dp.sum((0, 1)), pl.col("absent").dp.sum((0, SESSIONS_POSSIBLE))],
    )
    # epsilon 0.5 for each of two aggregates is rho 0.125 each in the gateway's ledger.
    stats = [adp.statistic(n, SESSIONS_POSSIBLE) for n in ("pa", "absent")]
    plan = adp.plan_noise(stats, adp.rho_to_units_down(0.25), mechanism="laplace")
    # The Context's global scale multiplies each aggregate's sensitivity; pa's is 1.
    measurement, d_in, d_out = measurement_at_global_scale(query, plan["pa"].scale)
    tighter, _, _ = measurement_at_global_scale(query, plan["pa"].scale * (1 - 1e-9))
    # Our scale is exactly the boundary the Context's search looks for.
    assert measurement.map(d_in) <= d_out < tighter.map(d_in)
    summary = summary_by_column(measurement)
    for name in plan.names:
        assert summary[name]["distribution"] == "Integer Laplace"
        assert plan[name].scale == pytest.approx(summary[name]["scale"], rel=1e-9), name
        assert plan[name].epsilon == pytest.approx(0.5, rel=1e-9)
        assert plan[name].half_width_95 == int(summary[name]["accuracy"]), name
    assert_release_matches_reference(measurement, frame, rows, plan)
