"""Efficiency attribution: where a "2x" in tokens per joule could or could not come from on a layout.

At one grid power (the budget at the meter), the layout is solved step by step, each step adding one measure
to the previous one, and tokens/s, facility power and tokens per joule are reported with the ratio to the
previous step taken:

  1. Max-P at the design setpoints, AC distribution (415 V + UPS + rack power shelves), pluggable optics;
  2. 800 VDC distribution (MV rectifiers, busduct, rack DC/DC; ``twin.electrical.compare`` re-builds the
     layout's blocks for the other architecture);
  3. co-packaged optics (the layout's network with ``optics: cpo``; a scale-out switch that takes only the
     other kind is replaced by the catalog's switch for the kind at the same port speed, nearest radix);
  4. Max-Q caps (``twin.maxq.optimize``, every rack on);
  5. co-optimised cooling setpoints: facility-water supply and TCS flow per kW per hall (``twin.maxq.cooling``);
  6. rack shedding (Max-Q may switch racks off where fewer racks at higher caps make more tokens/s).

Max-P switches whole racks off until the facility fits the grid power (``optimize_maxq(policy="maxp")``), so
every step is compared at the same grid power. A step the layout cannot take (its racks have no AC input, the
catalog has no pluggable optic for its switch, ...) is reported as skipped with the reason, and the next step
starts from the last one taken. The ratios multiply to the overall gain (a decomposition along this order:
another order would split the same total differently).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.errors import InputError

STEPS = (
    ("maxp_ac_pluggable", "Max-P, design setpoints, AC, pluggable optics"),
    ("dc800", "800 VDC distribution"),
    ("cpo", "co-packaged optics"),
    ("maxq_caps", "Max-Q caps"),
    ("cooling", "co-optimised cooling setpoints"),
    ("shedding", "rack shedding"),
)


@dataclass
class Attribution:
    """table: one row per step (step, key, status ok / skipped / infeasible, note, facility_power_mw,
    tokens_per_s, tokens_per_joule, gain_vs_previous, gain_vs_first); kpis: budget_mw, steps, steps_taken,
    tokens_per_joule_gain (last taken / first taken), tokens_per_s_gain."""

    table: pd.DataFrame
    kpis: dict
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        rows = self.table.replace({np.nan: None}).to_dict("records")
        return {"attribution": rows, "kpis": self.kpis}


def _variant(model, arch: str, optics: str):
    """The model re-built with architecture ``arch`` and optics kind ``optics`` (the model itself if it has
    them already). Raises InputError / LayoutError when the layout cannot take them."""
    from twin.electrical.compare import _variant as arch_variant
    from twin.layout import Layout
    from twin.model import compile_layout

    m = model
    if str(m.layout.electrical.architecture) != arch:
        m = arch_variant(m, arch, None, 415)
    if str(m.layout.network.optics) != optics:
        data = m.layout.model_dump(mode="python")
        data["network"]["optics"] = optics
        data["network"]["optic"] = None  # the catalog's default optic of that kind
        so = data["network"]["scale_out"]
        so["switch"] = _switch_for(m.catalog, so["switch"], optics)
        m = compile_layout(Layout.model_validate(data), m.catalog)
    return m


def _switch_for(cat, name: str, optics: str) -> str:
    """The scale-out switch for optics kind ``optics``: ``name`` if it takes them, else the catalog switch that
    does at the same port speed with the nearest port count (radix)."""
    sw = cat.get("switches", name)
    if sw.optics == optics:
        return name
    cands = [cat.get("switches", n) for n in cat.names("switches")]
    cands = [c for c in cands if c.optics == optics and c.port_gbps == sw.port_gbps]
    if not cands:
        raise InputError(f"the catalog has no {optics} scale-out switch at {sw.port_gbps:g} Gb/s per port")
    return min(cands, key=lambda c: (abs(np.log(c.ports / sw.ports)), c.name)).name


def attribute(
    layout,
    *,
    budget_mw: float,
    catalogs=(),
    ambient_c: float | None = None,
    wet_bulb_c: float | None = None,
    supply_c: float | None = None,
    failures=(),
) -> Attribution:
    """Tokens/s and tokens per joule at ``budget_mw`` grid power, step by step (module docstring).

    Parameters
    ----------
    layout : str, Path or Layout
        The facility layout.
    budget_mw : float
        Grid power at the meter, MW (the budget of every step).
    catalogs : sequence of paths
        Extra catalog files.
    ambient_c, wet_bulb_c : float or None
        Outdoor dry and wet bulb, C.
    supply_c : float or None
        Facility-water supply setpoint of the design steps (1-4), C; None: the layout's.
    failures : sequence of str
        Units out of service (names valid in every variant: e.g. heat-rejection units).

    Returns
    -------
    Attribution

    Raises
    ------
    InputError
        Bad budget or layout (the steps themselves are skipped, not raised, when the layout cannot take them).
    """
    from twin import Scenario
    from twin.errors import LayoutError
    from twin.maxq.cooling import optimize_cooling
    from twin.maxq.optimize import optimize_maxq

    if not (np.isfinite(budget_mw) and budget_mw > 0):
        raise InputError(f"budget must be a positive number of MW, got {budget_mw}")
    base = Scenario(layout=layout, catalogs=tuple(catalogs)).model()
    kw = dict(ambient_c=ambient_c, wet_bulb_c=wet_bulb_c, failed=tuple(failures))
    rows: list[dict] = []
    details: dict = {}
    current = None  # the model of the last step taken

    def record(key, label, status, note, res=None):
        row = {"step": label, "key": key, "status": status, "note": note}
        if res is not None and status == "ok":
            k = res.kpis
            row.update(
                facility_power_mw=float(k["facility_power_mw"]),
                tokens_per_s=float(k["tokens_per_s"]),
                tokens_per_joule=float(k["tokens_per_joule"]),
            )
        rows.append(row)

    def build(arch, optics):
        try:
            return _variant(base, arch, optics), ""
        except (InputError, LayoutError) as exc:
            return None, str(exc).splitlines()[0][:300]

    for key, label, arch, optics in (
        ("maxp_ac_pluggable", STEPS[0][1], "ac", "pluggable"),
        ("dc800", STEPS[1][1], "dc800", "pluggable"),
        ("cpo", STEPS[2][1], "dc800", "cpo"),
    ):
        m, why = build(arch, optics)
        if m is None:
            record(key, label, "skipped", f"the layout cannot take it: {why}")
            continue
        try:
            r = optimize_maxq(m, budget_mw=budget_mw, policy="maxp", supply_c=supply_c, **kw)
        except InputError as exc:
            record(key, label, "skipped", str(exc)[:300])
            continue
        current = m
        if not r.feasible:
            record(key, label, "infeasible", r.reason)
            continue
        sw = m.layout.network.scale_out.switch
        note = f"{arch}, {optics} optics ({sw}), {int(r.kpis.get('racks_off', 0))} racks off"
        record(key, label, "ok", note, r)
        details[key] = r
    if current is None:
        current = base
        note = "from the layout as given (no earlier step could be built)"
    else:
        note = ""
    try:
        r = optimize_maxq(current, budget_mw=budget_mw, supply_c=supply_c, shed=False, **kw)
        if r.feasible:
            record("maxq_caps", STEPS[3][1], "ok", note or "every rack on", r)
            details["maxq_caps"] = r
        else:
            record("maxq_caps", STEPS[3][1], "infeasible", r.reason)
        c = optimize_cooling(current, budget_mw=budget_mw, supply_c=supply_c, shed=False, **kw)
        if c.maxq.feasible:
            sp = ", ".join(
                f"{h} {t:.1f} C / {q:.2f} L/min/kW"
                for h, t, q in zip(
                    c.setpoints["hall"],
                    c.setpoints["chosen_c"],
                    c.setpoints["tcs_flow_lpm_per_kw_chosen"],
                    strict=True,
                )
            )
            record("cooling", STEPS[4][1], "ok", f"supply {sp}"[:300], c.maxq)
            details["cooling"] = c
        else:
            record("cooling", STEPS[4][1], "infeasible", c.maxq.reason)
        c2 = optimize_cooling(current, budget_mw=budget_mw, supply_c=supply_c, shed=True, **kw)
        if c2.maxq.feasible:
            n = int(c2.maxq.kpis.get("racks_shed", 0))
            record("shedding", STEPS[5][1], "ok", f"{n} racks off", c2.maxq)
            details["shedding"] = c2
        else:
            record("shedding", STEPS[5][1], "infeasible", c2.maxq.reason)
    except InputError as exc:
        done = {r_["key"] for r_ in rows}
        for key, label in STEPS[3:]:
            if key not in done:
                record(key, label, "skipped", str(exc)[:300])
    table = pd.DataFrame(rows)
    for col in ("facility_power_mw", "tokens_per_s", "tokens_per_joule"):
        if col not in table:
            table[col] = np.nan
    ok = table["status"] == "ok"
    tpj = table["tokens_per_joule"].where(ok)
    prev = tpj.ffill().shift(1)
    table["gain_vs_previous"] = np.where(ok & prev.notna(), tpj / prev, np.nan)
    first = tpj[ok].iloc[0] if ok.any() else np.nan
    table["gain_vs_first"] = np.where(ok, tpj / first, np.nan)
    table = table[
        [
            "step",
            "key",
            "status",
            "facility_power_mw",
            "tokens_per_s",
            "tokens_per_joule",
            "gain_vs_previous",
            "gain_vs_first",
            "note",
        ]
    ]
    taken = table[ok]
    kpis = {
        "budget_mw": float(budget_mw),
        "steps": len(table),
        "steps_taken": int(ok.sum()),
        "tokens_per_joule_gain": float(taken["tokens_per_joule"].iloc[-1] / taken["tokens_per_joule"].iloc[0])
        if len(taken)
        else float("nan"),
        "tokens_per_s_gain": float(taken["tokens_per_s"].iloc[-1] / taken["tokens_per_s"].iloc[0])
        if len(taken)
        else float("nan"),
    }
    return Attribution(table, kpis, details)


def waterfall_html(att: Attribution) -> str:
    """A self-contained HTML page (plotly.js inlined) with the waterfall of tokens per joule over the steps
    taken: the first step's tokens/J, each later step's change, and the total; skipped steps listed below."""
    import plotly.graph_objects as go

    t = att.table
    ok = t[t["status"] == "ok"]
    if ok.empty:
        x, y, measure = ["no step taken"], [0.0], ["absolute"]
    else:
        v = ok["tokens_per_joule"].to_numpy(dtype=float)
        x = list(ok["step"]) + ["total"]
        y = [v[0], *np.diff(v).tolist(), 0.0]
        measure = ["absolute"] + ["relative"] * (len(v) - 1) + ["total"]
    fig = go.Figure(
        go.Waterfall(
            x=x,
            y=y,
            measure=measure,
            text=[f"{val:+.4f}" if m == "relative" else "" for val, m in zip(y, measure, strict=True)],
            textposition="outside",
        )
    )
    skipped = t[t["status"] != "ok"]
    note = "<br>".join(
        f"{s}: {st} ({n})"
        for s, st, n in zip(skipped["step"], skipped["status"], skipped["note"], strict=True)
    )
    fig.update_layout(
        title=f"Tokens per joule at {att.kpis['budget_mw']:,.1f} MW grid power, step by step "
        f"(x{att.kpis['tokens_per_joule_gain']:.3f} overall)",
        yaxis_title="tokens per joule",
        showlegend=False,
        annotations=[dict(text=note, xref="paper", yref="paper", x=0, y=-0.35, showarrow=False, align="left")]
        if note
        else [],
        margin=dict(b=160),
    )
    return fig.to_html(include_plotlyjs=True, full_html=True)
