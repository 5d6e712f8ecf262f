"""MaxLPS-style sizing: how many racks and GPUs fit a site power envelope, Max-P versus Max-Q provisioning.

Per-rack facility power ``phi`` (W at the utility meter per rack: rack IT + its share of fabric, cooling and
electrical losses) is measured with the coupled solve on a template layout that uses the rack type (the
reference layout with most racks of that type, or the user's). With only the racks of that type switched on:

    phi = (F_on - F_off) / N_type + F_off / N_template

(F_off: the template with every rack off: fabric switches, idle pumps and fans, no-load losses, shared per rack).

* Max-P (nameplate provisioning): every GPU at power_max_w, design ambient, plus the provisioning headroom the
  operator reserves above nameplate (user input, default 0): ``racks_maxp = floor(S / (phi_P (1 + h)))``.
* Max-Q (dynamic power control): GPUs capped at the catalog Max-Q point (power_maxq_w), cooling and losses at
  that real load and at the given ambient: ``racks_maxq = floor(S / phi_Q)``.

The gain ``racks_maxq / racks_maxp`` is decomposed multiplicatively into: rack IT power at the efficiency point
(IT_P / IT_Q), facility overhead at real rather than nameplate load (``(phi_P / IT_P) / (phi_Q' / IT_Q)`` at
design ambient), ambient (``phi_Q' / phi_Q``) and the removed provisioning headroom ``(1 + h)``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from twin.coupled import solve_coupled
from twin.errors import InputError
from twin.model import load_model
from twin.perf import perf_model

REFERENCE_FILE = Path(__file__).with_name("reference.yaml")
LAYOUT_DIR = Path(__file__).resolve().parents[2] / "layouts"


def published_reference() -> dict:
    """NVIDIA's published MaxLPS sizing figures (with their source), from ``twin/maxq/reference.yaml``."""
    return yaml.safe_load(REFERENCE_FILE.read_text())["maxlps"]


def _template_for(rack_type: str) -> Path:
    best, key = None, None
    for f in sorted(LAYOUT_DIR.glob("*.yaml")):
        try:
            m = load_model(f)
        except Exception:  # noqa: BLE001 - a broken example layout is skipped, not fatal
            continue
        names = m.rack_types["name"].to_numpy()[m.racks["rack_type"].to_numpy()]
        n = int(np.sum(names == rack_type))
        if n == 0:
            continue
        k = (n, n / m.n_racks)
        if key is None or k > key:
            best, key = f, k
    if best is None:
        raise InputError(
            f"no reference layout uses rack type '{rack_type}': pass a template LAYOUT that does"
        )
    return best


def _phi(model, on: np.ndarray, caps, ambient_c, off_w: float) -> tuple[float, float, object]:
    """Per-rack facility power and per-rack IT power of the racks ``on``, W."""
    cp = solve_coupled(model, gpu_cap_w=caps, racks_on=on, ambient_c=ambient_c)
    n_on = int(on.sum())
    phi = (cp.facility_power_w - off_w) / n_on + off_w / model.n_racks
    it = float(cp.res_racks["rack_power_w"].to_numpy()[on].sum()) / n_on
    return phi, it, cp


def size_site(
    site_mw: float,
    rack_type: str,
    *,
    ambient_c: float | None = None,
    template: str | Path | None = None,
    headroom_pct: float = 0.0,
) -> dict:
    """Racks, GPUs and tokens/s that fit ``site_mw`` under Max-P and under Max-Q provisioning (see module doc)."""
    if not (math.isfinite(site_mw) and site_mw > 0):
        raise InputError(f"--site-mw must be a positive number, got {site_mw}")
    if not (0.0 <= headroom_pct < 100.0):
        raise InputError(f"--headroom-pct must be in [0, 100), got {headroom_pct}")
    path = Path(template) if template is not None else _template_for(rack_type)
    model = load_model(path)
    if not model.catalog.has("racks", rack_type):
        raise InputError(
            f"unknown rack type '{rack_type}' (catalog: {', '.join(model.catalog.names('racks'))})"
        )
    names = model.rack_types["name"].to_numpy()[model.racks["rack_type"].to_numpy()]
    on = names == rack_type
    if not on.any():
        raise InputError(f"template layout {path} has no rack of type '{rack_type}'")
    perf = perf_model(model)
    design_c = float(model.layout.site.design_ambient_c)
    amb = design_c if ambient_c is None else float(ambient_c)
    off = solve_coupled(model, racks_on=np.zeros(model.n_racks, bool), ambient_c=design_c)
    off_w = off.facility_power_w
    gt = model.gpu_types.iloc[int(model.racks["gpu_type"].to_numpy()[on][0])]
    caps_q = np.clip(
        np.full(model.n_racks, float(gt["power_maxq_w"])), perf.gpu_power_min_w, perf.gpu_power_max_w
    )
    phi_p, it_p, _ = _phi(model, on, None, design_c, off_w)
    phi_qd, it_q, _ = _phi(model, on, caps_q, design_c, off_w)
    if amb != design_c:
        off_a = solve_coupled(model, racks_on=np.zeros(model.n_racks, bool), ambient_c=amb).facility_power_w
        phi_q = _phi(model, on, caps_q, amb, off_a)[0]
    else:
        phi_q = phi_qd
    h = headroom_pct / 100.0
    s_w = site_mw * 1e6
    racks_p = int(s_w // (phi_p * (1 + h)))
    racks_q = int(s_w // phi_q)
    gpus_per_rack = int(model.catalog.rack(rack_type).gpus)
    k = int(np.flatnonzero(on)[0])
    tok_gpu = float(perf.tokens_full_per_gpu[k])
    rel_q = float(perf.fraction_value(np.array([caps_q[k] / perf.gpu_power_max_w[k]]), perf.curve_id[[k]])[0])
    gain = racks_q / racks_p if racks_p else float("inf")
    ref = published_reference()
    decomposition = {
        "caps_at_efficiency_point": it_p / it_q,
        "overhead_at_real_load": (phi_p / it_p) / (phi_qd / it_q),
        "ambient": phi_qd / phi_q,
        "provisioning_headroom_removed": 1 + h,
    }
    return {
        "site_mw": site_mw,
        "rack_type": rack_type,
        "template": str(path),
        "ambient_c": amb,
        "design_ambient_c": design_c,
        "headroom_pct": headroom_pct,
        "facility_w_per_rack_maxp": phi_p * (1 + h),
        "facility_w_per_rack_maxq": phi_q,
        "it_w_per_rack_maxp": it_p,
        "it_w_per_rack_maxq": it_q,
        "racks_maxp": racks_p,
        "racks_maxq": racks_q,
        "gpus_maxp": racks_p * gpus_per_rack,
        "gpus_maxq": racks_q * gpus_per_rack,
        "gpu_gain": gain,
        "relative_throughput_maxq": rel_q,
        "tokens_per_s_maxp": racks_p * gpus_per_rack * tok_gpu,
        "tokens_per_s_maxq": racks_q * gpus_per_rack * tok_gpu * rel_q,
        "tokens_gain": (racks_q * rel_q) / racks_p if racks_p else float("inf"),
        "gain_decomposition": decomposition,
        "unexplained_vs_nvidia": (ref["gpus_maxq"] / ref["gpus_maxp"]) / gain if gain else float("nan"),
        "nvidia_reference": ref,
    }
