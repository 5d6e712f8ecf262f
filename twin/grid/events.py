"""Grid events: curtailment requests read from YAML, presets from published demonstrations, and Duke-style
placement of a yearly curtailment allowance.

An event asks the site to stay under a cap from ``start`` for ``duration_h`` hours: ``depth_pct`` below its
pre-event load (the site's uncurtailed draw in the hour before the start) or an absolute ``cap_mw``. The site
ramps down over ``ramp_min`` before the start and back up over ``ramp_min`` after the end (linear ramps: in
energy, half of each ramp counts as time at the cap); ``notice_min`` is the warning the grid operator gives
(reported; every strategy here acts within seconds, so no notice is needed to meet an event).

Events file (times on the site's clock, the weather's local standard time; an offset, if given, is converted)::

    events:
      - {name: heat-wave, start: 2018-07-16T15:00, duration_h: 3, depth_pct: 25, notice_min: 60, ramp_min: 10}
      - {preset: emerald-phoenix, start: 2018-08-02T16:00}
      - {start: 2018-12-05T17:00, duration_h: 2, cap_mw: 700}
    coincident_peaks: [2018-06-18T17:00, 2018-07-19T17:00]   # optional (ERCOT 4CP style): hours to avoid

Presets (the figures published for each demonstration; what was not published is 0):

- ``emerald-phoenix``: Emerald AI with Oracle and SRP in Phoenix (2025): cluster power 25 % below its
  pre-event level for 3 h, service levels kept.
- ``london-30``, ``london-35``: the London trial: 30 % / 35 % reduction reached within 30 s and held for up to
  10 h (here: the full 10 h).

``place_curtailment`` follows Duke University's *Rethinking Load Growth* (Norris et al., 2025): a flexible
load accepts curtailment of up to P % of its maximum annual energy (its peak draw x 8,760 h; the study's cases
are 0.25, 0.5 and 1 %), taken in the hours when the system is most stressed. With a system load series
(MW) the curtailed MW in an hour is the system load above a threshold (the study's headroom rule), capped at
``depth_pct`` of the site's draw, the threshold set so that the yearly total is P %; with prices only, the
highest-price hours are curtailed by ``depth_pct`` until the allowance is used. Coincident-peak hours, when
given, are curtailed first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import InputError, LayoutError

__all__ = ["PRESETS", "Event", "load_events", "hourly_profile", "place_curtailment", "resolve_caps"]

HOURS = 8760

PRESETS: dict[str, dict] = {
    "emerald-phoenix": {
        "duration_h": 3.0,
        "depth_pct": 25.0,
        "notice_min": 0.0,
        "ramp_min": 0.0,
        "description": "Emerald AI / Oracle / SRP, Phoenix 2025: -25 % for 3 h with service kept",
    },
    "london-30": {
        "duration_h": 10.0,
        "depth_pct": 30.0,
        "notice_min": 0.0,
        "ramp_min": 0.5,
        "description": "London trial: -30 % within 30 s, held up to 10 h",
    },
    "london-35": {
        "duration_h": 10.0,
        "depth_pct": 35.0,
        "notice_min": 0.0,
        "ramp_min": 0.5,
        "description": "London trial: -35 % within 30 s, held up to 10 h",
    },
}
KEYS = {"name", "preset", "start", "duration_h", "depth_pct", "cap_mw", "notice_min", "ramp_min"}


@dataclass(frozen=True)
class Event:
    """One curtailment request. ``start_h``: hours after 1 January 00:00 on the site's clock."""

    name: str
    start_h: float
    duration_h: float
    depth_pct: float | None = None
    cap_mw: float | None = None
    notice_min: float = 0.0
    ramp_min: float = 0.0
    source: str = ""
    group: int = -1  # events placed hour by hour share a group (one event in the counts)

    @property
    def end_h(self) -> float:
        return self.start_h + self.duration_h

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "start_h": self.start_h,
            "duration_h": self.duration_h,
            "depth_pct": self.depth_pct,
            "cap_mw": self.cap_mw,
            "notice_min": self.notice_min,
            "ramp_min": self.ramp_min,
            "source": self.source,
        }


def _hour_of(value, start: pd.Timestamp, where: str) -> float:
    """Hours from the year's start to a timestamp given on the site's clock (or with an offset)."""
    if isinstance(value, (dt.datetime, dt.date)) or isinstance(value, str):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise InputError(f"{where}: {value!r} is not a date and time (e.g. 2018-07-16T15:00)") from None
    else:
        raise InputError(f"{where}: {value!r} is not a date and time (e.g. 2018-07-16T15:00)")
    if ts is pd.NaT:
        raise InputError(f"{where}: {value!r} is not a date and time")
    if ts.tzinfo is not None:
        if start.tzinfo is None:
            raise InputError(
                f"{where}: {value} has a UTC offset but the weather's clock has none: give the time as on the weather file"
            )
        ts = ts.tz_convert(start.tzinfo)
    elif start.tzinfo is not None:
        ts = ts.tz_localize(start.tzinfo)
    return (ts - start) / pd.Timedelta(hours=1)


def _num(d: dict, key: str, where: str, lo: float, hi: float, lo_open: bool = False) -> float | None:
    if key not in d or d[key] is None:
        return None
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise InputError(f"{where}: {key} must be a number, got {v!r}")
    v = float(v)
    if (v <= lo if lo_open else v < lo) or v > hi:
        left = "(" if lo_open else "["
        raise InputError(f"{where}: {key} = {v:g} is outside {left}{lo:g}, {hi:g}]")
    return v


def load_events(path: str | Path, year_start: pd.Timestamp) -> tuple[list[Event], list[float]]:
    """Read an events YAML file: (events sorted by start, coincident-peak hours). Problems name file and line."""
    from twin.yamlio import line_of, load_yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such events file")
    try:
        data, lines = load_yaml(path)
    except LayoutError as exc:
        raise InputError("; ".join(p.format() for p in exc.problems)) from None
    if not isinstance(data, dict) or "events" not in data:
        raise InputError(
            f"{path}: an events file is a mapping with a list 'events' (and optional 'coincident_peaks')"
        )
    extra = set(data) - {"events", "coincident_peaks"}
    if extra:
        k = sorted(extra)[0]
        raise InputError(f"{path}:{line_of(lines, (k,)) or 1}: unknown key {k!r} (events, coincident_peaks)")
    raw = data["events"] or []
    if not isinstance(raw, list):
        raise InputError(f"{path}:{line_of(lines, ('events',)) or 1}: events must be a list")
    events = []
    for i, e in enumerate(raw):
        where = f"{path}:{line_of(lines, ('events', i)) or '?'}"
        if not isinstance(e, dict):
            raise InputError(
                f"{where}: each event is a mapping (start, duration_h, depth_pct or cap_mw, ...)"
            )
        unknown = set(e) - KEYS
        if unknown:
            raise InputError(f"{where}: unknown key {sorted(unknown)[0]!r} (use {', '.join(sorted(KEYS))})")
        spec = dict(e)
        if "preset" in spec:
            name = str(spec["preset"])
            if name not in PRESETS:
                raise InputError(f"{where}: unknown preset {name!r} (presets: {', '.join(PRESETS)})")
            base = {k: v for k, v in PRESETS[name].items() if k != "description"}
            if "cap_mw" in spec:
                base.pop("depth_pct")
            spec = {**base, **{k: v for k, v in spec.items() if k != "preset"}}
            spec.setdefault("name", name)
        if "start" not in spec:
            raise InputError(f"{where}: missing start (e.g. start: 2018-07-16T15:00)")
        start_h = _hour_of(spec["start"], year_start, where)
        dur = _num(spec, "duration_h", where, 0.0, HOURS, lo_open=True)
        if dur is None:
            raise InputError(f"{where}: missing duration_h (hours, > 0)")
        depth = _num(spec, "depth_pct", where, 0.0, 100.0, lo_open=True)
        cap = _num(spec, "cap_mw", where, 0.0, 1e6, lo_open=True)
        if (depth is None) == (cap is None):
            raise InputError(f"{where}: give exactly one of depth_pct (% below the pre-event load) or cap_mw")
        notice = _num(spec, "notice_min", where, 0.0, 7 * 24 * 60) or 0.0
        ramp = _num(spec, "ramp_min", where, 0.0, 24 * 60) or 0.0
        if ramp / 60.0 > dur:
            raise InputError(f"{where}: ramp_min {ramp:g} is longer than the event ({dur:g} h)")
        if start_h < 0 or start_h + dur > HOURS + 1e-9:
            yr_end = year_start + pd.Timedelta(hours=HOURS)
            raise InputError(
                f"{where}: the event ({spec['start']}, {dur:g} h) is outside the year "
                f"[{year_start:%Y-%m-%d %H:%M}, {yr_end:%Y-%m-%d %H:%M})"
            )
        events.append(
            Event(str(spec.get("name", f"event-{i + 1}")), start_h, dur, depth, cap, notice, ramp, where, i)
        )
    order = sorted(range(len(events)), key=lambda j: events[j].start_h)
    for a, b in zip(order, order[1:], strict=False):
        ea, eb = events[a], events[b]
        if eb.start_h < ea.end_h - 1e-9:
            raise InputError(
                f"{eb.source}: this event overlaps the one at {ea.source} (ends {ea.end_h - eb.start_h:g} h later)"
            )
    cps = []
    for j, c in enumerate(data.get("coincident_peaks") or []):
        where = f"{path}:{line_of(lines, ('coincident_peaks', j)) or '?'}"
        h = _hour_of(c, year_start, where)
        if not 0 <= h < HOURS:
            raise InputError(f"{where}: coincident peak {c} is outside the year")
        cps.append(float(np.floor(h)))
    return [events[j] for j in order], cps


def resolve_caps(events: list[Event], baseline_mw: np.ndarray) -> list[Event]:
    """Give every event its MW cap: ``depth_pct`` below the site's uncurtailed draw in the hour before it."""
    out = []
    for e in events:
        if e.cap_mw is not None:
            out.append(e)
            continue
        h = max(int(np.floor(e.start_h)) - 1, 0) if e.start_h >= 1 else 0
        out.append(replace(e, cap_mw=float(baseline_mw[h]) * (1.0 - e.depth_pct / 100.0)))
    return out


def hourly_profile(events: list[Event]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hour: (cap MW or inf, fraction of the hour at the cap in [0, 1], index of the event or -1).

    Ramps count half: the time at the cap is [start - ramp / 2, end + ramp / 2] (linear ramps, in energy).
    An hour touched by two events takes the lower cap and the sum of the fractions (at most 1).
    """
    cap = np.full(HOURS, np.inf)
    frac = np.zeros(HOURS)
    which = np.full(HOURS, -1, dtype=int)
    for k, e in enumerate(events):
        half = e.ramp_min / 120.0
        a, b = max(e.start_h - half, 0.0), min(e.end_h + half, float(HOURS))
        for h in range(int(np.floor(a)), int(np.ceil(b))):
            f = min(b, h + 1) - max(a, h)
            if f <= 1e-12:
                continue
            if e.cap_mw < cap[h]:
                cap[h] = e.cap_mw
                which[h] = k
            frac[h] = min(1.0, frac[h] + f)
    return cap, frac, which


def place_curtailment(
    pct: float,
    baseline_mw: np.ndarray,
    *,
    price: np.ndarray | None = None,
    system_load_mw: np.ndarray | None = None,
    depth_pct: float = 25.0,
    coincident_peaks: list[float] | None = None,
) -> list[Event]:
    """Events that curtail up to ``pct`` % of the site's maximum annual energy (Duke's definition: peak draw
    x 8,760 h), hour by hour; contiguous hours form one event. See the module docstring for the rule."""
    if not 0 < pct <= 100:
        raise InputError(f"--curtailment-pct {pct:g} must be in (0, 100]")
    if not 0 < depth_pct <= 100:
        raise InputError(f"--curtailment-depth-pct {depth_pct:g} must be in (0, 100]")
    base = np.asarray(baseline_mw, dtype=float)
    allowance = pct / 100.0 * base.max() * HOURS  # MWh
    most = depth_pct / 100.0 * base  # the deepest curtailment of each hour, MW
    cut = np.zeros(HOURS)
    used = 0.0
    for h in sorted({int(h) for h in coincident_peaks or []}):
        if used + most[h] <= allowance:
            cut[h] = most[h]
            used += most[h]
    left = allowance - used
    free = cut == 0
    if system_load_mw is not None:
        load = np.asarray(system_load_mw, dtype=float)

        def total(theta):
            return float(np.sum(np.where(free, np.clip(load - theta, 0.0, most), 0.0)))

        lo, hi = float(load.min()) - float(most.max()), float(load.max())
        if total(lo) <= left:
            theta = lo
        else:
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if total(mid) > left else (lo, mid)
            theta = hi
        cut = np.where(free, np.clip(load - theta, 0.0, most), cut)
        signal = "system load"
    else:
        if price is None:
            raise InputError("curtailment placement needs prices or a system load")
        order = np.argsort(-np.asarray(price, dtype=float), kind="stable")
        for h in order:
            if not free[h]:
                continue
            if most[h] > left + 1e-9:
                break
            cut[h] = most[h]
            left -= most[h]
        signal = "price"
    events: list[Event] = []
    group = -1
    prev = -2
    for h in np.flatnonzero(cut > 1e-9):
        if h != prev + 1:
            group += 1
        prev = h
        events.append(
            Event(
                f"curtailment-{group + 1}",
                float(h),
                1.0,
                None,
                float(base[h] - cut[h]),
                0.0,
                0.0,
                f"--curtailment-pct {pct:g} ({signal}{', coincident peak' if h in (coincident_peaks or []) else ''})",
                group,
            )
        )
    return events
