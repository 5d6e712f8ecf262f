"""``run(scenario) -> RunResult``: the one way in for the CLI, the dashboard, studies and users' scripts.

Each analysis is a short chain of named steps (pvlib ModelChain style): compile the effective layout (cached by
content), parse the failures once, turn the load into GPU caps, call the solver, and put its results into
tables and one flat KPI dict under the names of the result schema (``twin/results_schema.yaml``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.failures import FailureSet
from twin.result import RunResult
from twin.scenario import Scenario

if TYPE_CHECKING:
    from twin.model import FacilityModel

__all__ = ["gpu_caps_from_load", "run", "run_many"]


def run(scenario: Scenario) -> RunResult:
    """Run one scenario.

    Parameters
    ----------
    scenario : Scenario

    Returns
    -------
    RunResult
        Tables, KPIs, status (``ok`` / ``infeasible`` / ``not_converged``) and metadata.

    Raises
    ------
    LayoutError
        The (overridden) layout is not valid; every problem names its place.
    InputError
        A bad input that is not a layout problem (unknown failed unit, a load below the floor, ...).
    """
    from twin import __version__

    t0 = time.perf_counter()
    res = _ANALYSES[scenario.analysis](scenario)
    res.meta = {
        "scenario_id": scenario.id,
        "analysis": scenario.analysis,
        "layout": scenario.layout_name,
        "version": __version__,
        "solve_time_s": time.perf_counter() - t0,
    }
    return res


def run_many(scenarios: Iterable[Scenario], *, on_error: str = "raise") -> Iterator[RunResult]:
    """Run scenarios one after another (a plain loop; the studies put this on Dask).

    on_error: ``raise`` (default) or ``record``: a scenario that raises a user-input error gives a RunResult with
    ``status="error"`` and the message as ``reason``, and the loop goes on.
    """
    from twin.errors import LayoutError

    for s in scenarios:
        if on_error == "raise":
            yield run(s)
            continue
        try:
            yield run(s)
        except (InputError, LayoutError) as exc:
            yield RunResult(
                s, status="error", reason=str(exc), meta={"scenario_id": s.id, "analysis": s.analysis}
            )


# --- shared steps -----------------------------------------------------------------------------------------------


def gpu_caps_from_load(model: FacilityModel, it_load: float | None) -> np.ndarray | None:
    """Per-rack GPU cap (W) that puts every rack at ``it_load`` x its Max-P power; None at full load.

    Rack power = other_power_w + gpus x GPU power, so the cap is (it_load x Max-P - other) / gpus. A load below
    the floor (every GPU at its minimum power limit) cannot be reached by capping and is refused, not clamped.

    Parameters
    ----------
    model : FacilityModel
    it_load : float or None
        Fraction of Max-P rack power, in (0, 1]; None means 1.

    Returns
    -------
    numpy.ndarray of shape (n_racks,) or None
        GPU power cap per rack, W.
    """
    if it_load is None or it_load == 1.0:
        return None
    if not 0.0 < it_load <= 1.0:
        raise InputError(f"it_load must be in (0, 1], got {it_load}")
    r = model.racks
    cap = (it_load * r["power_maxp_w"].to_numpy() - r["other_power_w"].to_numpy()) / r["gpus"].to_numpy()
    low = cap < r["gpu_power_min_w"].to_numpy() * (1 - 1e-12)
    if low.any():
        floor = float((r["power_floor_w"] / r["power_maxp_w"]).max())
        raise InputError(
            f"it_load {it_load:g} is below the floor of {int(low.sum())} rack(s): every GPU at its minimum power "
            f"limit already draws {floor:.2f} x Max-P; use it_load >= {floor:.2f}, or the thermal analysis "
            "(--thermal-only) to study lower rack loads"
        )
    return cap


def _wet_bulb(s: Scenario, model: FacilityModel) -> float | None:
    """The scenario's wet bulb: given, from relative humidity (CoolProp HAPropsSI at the site pressure), or None."""
    if s.relative_humidity is None:
        return s.wet_bulb_c
    from CoolProp.CoolProp import HAPropsSI

    from twin.thermal.properties import air_pressure_pa

    t = s.ambient_c if s.ambient_c is not None else model.layout.site.design_ambient_c
    p = air_pressure_pa(model.layout.site.altitude_m)
    return float(HAPropsSI("B", "T", t + 273.15, "P", p, "R", s.relative_humidity)) - 273.15


def _not_applicable(s: Scenario, *fields: str) -> None:
    given = [f for f in fields if getattr(s, f) not in (None, (), False)]
    if given:
        raise InputError(f"{', '.join(given)} does not apply to analysis {s.analysis}")


def _status(converged: bool, what: str) -> tuple[str, str]:
    return ("ok", "") if converged else ("not_converged", f"the {what} did not converge")


def _ids(model: FacilityModel) -> pd.DataFrame:
    """Identity columns of the racks table: name and the index of its hall, pod, row and cooling loop."""
    r = model.racks
    return pd.DataFrame(
        {
            "name": model.rack_names(),
            "hall": r["hall"].to_numpy(),
            "pod": r["pod"].to_numpy(),
            "row": r["row"].to_numpy(),
            "loop": r["loop"].to_numpy(),
        }
    )


def _join(*frames: pd.DataFrame) -> pd.DataFrame:
    """Side-by-side join of per-rack frames; a column already present is not repeated (the first one wins)."""
    out = frames[0].reset_index(drop=True)
    for f in frames[1:]:
        f = f.reset_index(drop=True)
        out = pd.concat([out, f[[c for c in f.columns if c not in out.columns]]], axis=1)
    return out


def _thermal_tables(th) -> dict[str, pd.DataFrame]:
    return {
        "loops": th.res_loops,
        "cdus": th.res_cdus,
        "heat_rejection": th.res_heat_rejection,
        "halls": th.res_halls,
    }


def _model_warnings(model: FacilityModel) -> list[str]:
    from dataclasses import replace

    return [replace(p, severity="error").format() for p in model.warnings if p.severity == "warning"]


# --- analyses ---------------------------------------------------------------------------------------------------


def _solve_coupled(s: Scenario, model: FacilityModel, fails: FailureSet):
    from twin.coupled import solve_coupled

    caps = s.gpu_cap_w if s.gpu_cap_w is not None else gpu_caps_from_load(model, s.it_load)
    return solve_coupled(
        model,
        gpu_cap_w=caps,
        ambient_c=s.ambient_c,
        wet_bulb_c=_wet_bulb(s, model),
        supply_c=s.supply_c,
        failed=fails.thermal + fails.electrical,
    )


def _coupled_kpis(model: FacilityModel, c) -> dict:
    """Thermal KPIs first; the coupled ones (IT incl. throttling, facility power, PUE ...) take precedence."""
    grid = model.layout.site.grid_limit_mw
    return {
        **c.thermal.kpis,
        **c.kpis,
        "grid_limit_mw": grid,
        "grid_limit_exceeded": bool(c.kpis["facility_power_mw"] > grid * (1 + 1e-9)),
        "electrical_violations": len(c.electrical.violations),
    }


def _coupled_warnings(model: FacilityModel, c, k: dict) -> list[str]:
    w = _model_warnings(model)
    th = c.thermal
    w += [
        f"{r['name']}: {r['stage_reason']}"
        for _, r in th.res_halls[~th.res_halls["setpoint_held"]].iterrows()
    ]
    if k["grid_limit_exceeded"]:
        w.append(
            f"facility power {k['facility_power_mw']:,.1f} MW exceeds the {k['grid_limit_mw']:,.0f} MW grid connection "
            "at these caps: see `twin maxq LAYOUT --budget-mw ...` for caps that fit"
        )
    if k["racks_uncooled"]:
        w.append(
            f"{k['racks_uncooled']} rack(s) have no cooling (every CDU of their loop failed): their thermal protection "
            "shuts them down, so they are off"
        )
    if k["electrical_violations"]:
        w.append(f"{k['electrical_violations']} electrical violation(s): run `twin electrical` for the list")
    return w


def _coupled_racks(model: FacilityModel, c) -> pd.DataFrame:
    el = c.electrical.res_racks
    return _join(
        _ids(model), c.res_racks, c.thermal.res_racks, el.drop(columns=[x for x in ("powered",) if x in el])
    )


def _run_coupled(s: Scenario) -> RunResult:
    model = s.model()
    c = _solve_coupled(s, model, FailureSet.parse(model, s.failures))
    k = _coupled_kpis(model, c)
    tables = {
        "racks": _coupled_racks(model, c),
        **_thermal_tables(c.thermal),
        "elec_nodes": c.electrical.res_nodes,
    }
    tables["violations"] = _violations_table(c.electrical.violations)
    from twin.economics import run as econ

    econ.add_to_run(econ.priced_state(model, c.res_racks, k["facility_power_mw"]), k, tables)
    status, reason = _status(k["converged"], "coupled fixed point")
    return RunResult(s, status, reason, tables, k, _coupled_warnings(model, c, k))


def _violations_table(violations: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(violations, columns=["component", "kind", "value", "limit", "message"])


def _run_thermal(s: Scenario) -> RunResult:
    from twin.thermal import solve_thermal

    _not_applicable(s, "gpu_cap_w")
    model = s.model()
    fails = FailureSet.parse(model, s.failures)
    if fails.electrical or fails.network:
        raise InputError(
            f"analysis thermal takes cooling units only; not {', '.join(fails.electrical + fails.network)}"
        )
    th = solve_thermal(
        model,
        ambient_c=s.ambient_c,
        wet_bulb_c=_wet_bulb(s, model),
        supply_c=s.supply_c,
        it_load=1.0 if s.it_load is None else s.it_load,
        failed=fails.thermal,
    )
    tables = {"racks": _join(_ids(model), th.res_racks), **_thermal_tables(th)}
    w = _model_warnings(model) + [
        f"{r['name']}: {r['stage_reason']}"
        for _, r in th.res_halls[~th.res_halls["setpoint_held"]].iterrows()
    ]
    status, reason = _status(th.converged, "loop hydraulics")
    return RunResult(s, status, reason, tables, dict(th.kpis), w)


def _electrical_kpis(c) -> dict:
    el = c.electrical
    k = {
        f"electrical_{key}" if key in ("converged", "iterations", "balance_error_w") else key: v
        for key, v in el.kpis.items()
    }
    return {
        **k,
        "facility_power_mw": c.kpis["facility_power_mw"],
        "cooling_power_mw": c.kpis["cooling_power_mw"],
        "network_power_mw": c.kpis["network_power_mw"],
    }


def _run_electrical(s: Scenario) -> RunResult:
    model = s.model()
    fails = FailureSet.parse(model, s.failures)
    c = _solve_coupled(s, model, fails)
    k = {**_electrical_kpis(c), "coupled_converged": c.converged}
    tables = {
        "racks": _coupled_racks(model, c),
        "elec_nodes": c.electrical.res_nodes,
        "violations": _violations_table(c.electrical.violations),
    }
    status, reason = _status(bool(c.electrical.kpis["converged"]), "power flow")
    if status != "ok":
        reason = f"the power flow did not converge in {c.electrical.kpis['iterations']} iterations: the load exceeds what the network can carry"
    if s.analysis == "n-1":
        from twin.electrical.contingency import n_minus_1

        cont, ck = n_minus_1(
            model,
            rack_power_w=c.res_racks["rack_power_w"].to_numpy(dtype=float),
            mech_power_w_by_hall=np.asarray(c.thermal.mech_power_w_by_hall, dtype=float),
            extra_it_power_w_by_pod=c.network_power_w_by_pod,
            failed=fails.electrical,
            exact=s.electrical.exact,
        )
        tables["contingencies"] = cont
        k.update({f"n1_{key}": v for key, v in ck.items()})
    return RunResult(s, status, reason, tables, k, _model_warnings(model))


def _run_compare(s: Scenario) -> RunResult:
    from twin.electrical.compare import compare_ac_dc

    _not_applicable(s, "failures", "gpu_cap_w", "ambient_c", "wet_bulb_c", "supply_c", "relative_humidity")
    model = s.model()
    table, summary = compare_ac_dc(
        model, it_load=1.0 if s.it_load is None else s.it_load, hall=s.electrical.hall
    )
    table = table.rename_axis("metric").reset_index()
    return RunResult(s, "ok", "", {"compare": table}, dict(summary), _model_warnings(model))


def _run_network(s: Scenario) -> RunResult:
    from twin.network import solve_network

    _not_applicable(s, "gpu_cap_w", "it_load", "ambient_c", "wet_bulb_c", "supply_c", "relative_humidity")
    model = s.model()
    fails = FailureSet.parse(model, s.failures)
    if fails.thermal or fails.electrical:
        raise InputError(
            f"analysis network takes switches and links only; not {', '.join(fails.thermal + fails.electrical)}"
        )
    opts = {"load": s.network.load} if s.network.traffic in ("allreduce", "alltoall") else {}
    res = solve_network(
        model, traffic=s.network.traffic, failed=fails.network, optics=s.network.optics, traffic_options=opts
    )
    tables = {"flows": res.res_flows, "links": res.res_links, "switches": res.res_switches}
    w = _model_warnings(model) + [f"network: {x}" for x in res.kpis.get("fabric_warnings", [])]
    return RunResult(s, "ok", "", tables, dict(res.kpis), w)


_CONSTRAINT_COLUMNS = [
    "kind",
    "name",
    "load_mw",
    "limit_mw",
    "shadow_price_tokens_per_s_per_mw",
    "shadow_price_objective_per_s_per_mw",
    "binding",
]


def _run_maxq(s: Scenario) -> RunResult:
    from twin.maxq.optimize import optimize_maxq

    model = s.model()
    fails = FailureSet.parse(model, s.failures)
    opt = dict(
        budget_mw=s.budget_mw,
        ambient_c=s.ambient_c,
        wet_bulb_c=_wet_bulb(s, model),
        supply_c=s.supply_c,
        failed=fails.thermal + fails.electrical,
        variation_sigma=s.maxq.variation_sigma,
        seed=s.maxq.seed,
        max_outer=s.maxq.max_outer,
        shed=s.maxq.shed,
    )
    if s.maxq.objective == "revenue":  # twin.economics: caps and tier split for revenue
        from twin.economics.revenue import revenue_maxq

        if s.policy != "maxq":
            raise InputError(f"objective 'revenue' needs policy 'maxq' (got '{s.policy}')")
        rev = revenue_maxq(model, optimize_cooling=bool(s.maxq.optimize_cooling), **opt)
        res = rev.maxq
        cool = rev.cooling
    elif s.maxq.optimize_cooling:  # twin.maxq.cooling: supply setpoints per hall with the caps
        from twin.maxq.cooling import optimize_cooling

        if s.policy != "maxq":
            raise InputError(f"maxq.optimize_cooling needs policy 'maxq' (got '{s.policy}')")
        cool = optimize_cooling(model, **opt)
        res = cool.maxq
    else:
        res = optimize_maxq(model, policy=s.policy, **opt)
    # the verifying coupled solve's cooling figures (water use, stages, pumps ...) under the Max-Q answer's own
    # KPIs, which take precedence
    k = {**(res.coupled.thermal.kpis if res.coupled is not None else {}), **res.kpis}
    optimizer_warnings = k.pop("warnings", [])
    if not res.feasible:
        return RunResult(s, "infeasible", res.reason, {}, k, _model_warnings(model))
    caps = np.asarray(res.gpu_cap_w, dtype=float) if res.gpu_cap_w is not None else None
    if caps is not None:
        k["gpu_cap_w_min"], k["gpu_cap_w_mean"], k["gpu_cap_w_max"] = (
            float(caps.min()),
            float(caps.mean()),
            float(caps.max()),
        )
    c = res.coupled  # the verifying coupled solve: its cooling and electrical tables come with the caps
    tables = {
        "racks": _join(
            _ids(model), res.res_racks, c.thermal.res_racks, c.electrical.res_racks.drop(columns=["powered"])
        ),
        **_thermal_tables(c.thermal),
        "elec_nodes": c.electrical.res_nodes,
        "violations": _violations_table(c.electrical.violations),
        "constraints": res.res_constraints.reindex(columns=_CONSTRAINT_COLUMNS)
        if res.res_constraints.empty
        else res.res_constraints,
    }
    if caps is not None and len(caps) != model.n_racks:
        tables["gpus"] = pd.DataFrame({"gpu_cap_w": caps})
    cooling_warnings = []
    if s.maxq.optimize_cooling:
        tables["cooling_setpoints"] = cool.setpoints
        k.update(cool.kpis)
        if not cool.kpis["cooling_converged"]:
            cooling_warnings.append(
                f"cooling setpoints: no convergence in {cool.kpis['cooling_rounds']} rounds (the best verified "
                "setpoints found are returned)"
            )
    from twin.economics import run as econ

    if s.maxq.objective != "revenue":
        rev = econ.priced_afterwards(model, res)
    econ.add_to_run(rev, k, tables)
    w = _model_warnings(model) + [x for x in optimizer_warnings if "did not converge" not in x]
    w += rev.warnings if rev is not None else []
    w += cooling_warnings
    if k.get("outer_converged") is False:
        w.append(
            "the optimizer did not converge; the caps returned are the best verified feasible ones found (outer_converged = false)"
        )
    n_hot = int(k.get("over_temperature_racks", 0) or 0)
    if n_hot:
        w.append(f"{n_hot} rack(s) above the throttle temperature even at minimum GPU power")
    return RunResult(s, "ok", "", tables, k, w)


def _run_transient(s: Scenario) -> RunResult:
    from twin.thermal import simulate_transient

    _not_applicable(s, "failures", "gpu_cap_w", "wet_bulb_c", "relative_humidity")
    model = s.model()
    o = s.transient
    res = simulate_transient(
        model,
        o.kind,
        hall=o.hall,
        duration_s=o.duration_s,
        dt_out_s=o.dt_s,
        t_event_s=o.event_s,
        ambient_c=s.ambient_c,
        supply_c=s.supply_c,
        it_load=1.0 if s.it_load is None else s.it_load,
        load_from=o.load_from,
        load_to=o.load_to,
        step_k=o.step_k,
        target=o.target,
    )
    tables = {"series": res.series, "loops_series": res.res_loops_ts, "racks_final": res.res_racks_final}
    k = dict(res.kpis)
    status, reason = (
        ("ok", "")
        if k["solver_success"]
        else ("not_converged", f"the ODE solver stopped early: {k['solver_message']}")
    )
    return RunResult(s, status, reason, tables, k, _model_warnings(model))


def _run_size(s: Scenario) -> RunResult:
    from twin.maxq.sizing import size_site

    _not_applicable(s, "failures", "gpu_cap_w", "it_load", "wet_bulb_c", "supply_c", "relative_humidity")
    if s.layout is not None and not isinstance(s.layout, str):
        raise InputError("analysis size takes a template layout file (a path), not a loaded layout")
    if s.overrides:
        raise InputError("analysis size does not take overrides (give a template layout file)")
    o = s.sizing
    res = size_site(
        o.site_mw, o.rack_type, ambient_c=s.ambient_c, template=s.layout, headroom_pct=o.headroom_pct
    )
    if min(res["racks_maxp"], res["racks_maxq"]) < 1:
        per_rack_mw = max(res["facility_w_per_rack_maxp"], res["facility_w_per_rack_maxq"]) / 1e6
        raise InputError(
            f"site_mw {o.site_mw:g} MW does not fit one {o.rack_type} rack ({per_rack_mw:.3f} MW of facility power "
            "per rack): nothing to size"
        )
    return RunResult(s, "ok", "", {}, dict(res), [])


_ANALYSES: dict[str, Callable[[Scenario], RunResult]] = {
    "coupled": _run_coupled,
    "thermal": _run_thermal,
    "electrical": _run_electrical,
    "n-1": _run_electrical,
    "compare-ac-dc": _run_compare,
    "network": _run_network,
    "maxq": _run_maxq,
    "transient": _run_transient,
    "size": _run_size,
}
