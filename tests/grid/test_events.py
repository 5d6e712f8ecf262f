"""Events YAML (presets, bad input with file and line), hourly caps with ramps, Duke-style placement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.errors import InputError
from twin.grid.events import hourly_profile, load_events, place_curtailment, resolve_caps

START = pd.Timestamp("2018-01-01 00:00").tz_localize("Etc/GMT+5")


def _load(tmp_path, text):
    p = tmp_path / "ev.yaml"
    p.write_text(text)
    return load_events(p, START)


def test_preset_and_cap(tmp_path):
    ev, cps = _load(
        tmp_path,
        "events:\n  - {preset: emerald-phoenix, start: 2018-07-16T15:00}\n"
        "  - {start: 2018-01-10T17:30, duration_h: 2, cap_mw: 3.0, ramp_min: 30}\ncoincident_peaks: [2018-08-01T17:00]\n",
    )
    assert [e.name for e in ev] == ["event-2", "emerald-phoenix"]
    e = ev[1]
    assert (
        e.depth_pct == 25
        and e.duration_h == 3
        and e.start_h
        == (pd.Timestamp("2018-07-16 15:00") - pd.Timestamp("2018-01-01")) / pd.Timedelta(hours=1)
    )
    assert cps == [(pd.Timestamp("2018-08-01 17:00") - pd.Timestamp("2018-01-01")) / pd.Timedelta(hours=1)]


def test_hourly_profile_counts_half_ramps(tmp_path):
    ev, _ = _load(
        tmp_path, "events:\n  - {start: 2018-01-10T17:30, duration_h: 2, cap_mw: 3.0, ramp_min: 30}\n"
    )
    cap, frac, which = hourly_profile(ev)
    h = int(ev[0].start_h)  # 17:00 hour: at the cap from 17:15 (17:30 - 15 min)
    assert frac[h] == pytest.approx(0.75) and frac[h + 1] == 1.0 and frac[h + 2] == pytest.approx(0.75)
    assert frac.sum() == pytest.approx(2.5) and (cap[frac > 0] == 3.0).all() and which[h] == 0


def test_depth_is_below_the_pre_event_load(tmp_path):
    ev, _ = _load(tmp_path, "events:\n  - {preset: emerald-phoenix, start: 2018-07-16T15:00}\n")
    base = np.full(8760, 4.0)
    base[int(ev[0].start_h) - 1] = 4.4
    assert resolve_caps(ev, base)[0].cap_mw == pytest.approx(3.3)


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "events:\n  - {start: 2018-12-31T22:00, duration_h: 3, depth_pct: 25}\n",
            r"ev.yaml:2: .*outside the year",
        ),
        ("events:\n  - {start: 2017-12-31T22:00, duration_h: 3, depth_pct: 25}\n", r"outside the year"),
        (
            "events:\n  - {start: 2018-07-16T15:00, duration_h: 3, depth_pct: 25}\n"
            "  - {start: 2018-07-16T17:00, duration_h: 1, cap_mw: 3}\n",
            r"ev.yaml:3: this event overlaps the one at .*ev.yaml:2",
        ),
        ("events:\n  - {preset: phoenix, start: 2018-07-16T15:00}\n", r"unknown preset 'phoenix'"),
        (
            "events:\n  - {start: 2018-07-16T15:00, duration_h: 3, depth_pct: 25, cap_mw: 3}\n",
            r"exactly one of depth_pct",
        ),
        ("events:\n  - {start: 2018-07-16T15:00, duration_h: 3, depth_pct: 125}\n", r"depth_pct = 125"),
        ("events:\n  - {start: 2018-07-16T15:00, duration_h: -1, depth_pct: 25}\n", r"duration_h = -1"),
        (
            "events:\n  - {start: yesterday, duration_h: 1, depth_pct: 25}\n",
            r"ev.yaml:2: 'yesterday' is not a date",
        ),
        (
            "events:\n  - {start: 2018-07-16T15:00, duration_h: 1, depth_pct: 25, depht: 3}\n",
            r"unknown key 'depht'",
        ),
        ("events: [1, 2]\n", r"each event is a mapping"),
        ("nothing: 1\n", r"a mapping with a list 'events'"),
        (
            "events:\n  - {start: 2018-07-16T15:00, duration_h: 1, depth_pct: .nan}\n",
            r"depth_pct must be a number",
        ),
    ],
)
def test_bad_events(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        _load(tmp_path, text)


def test_duke_placement_by_price_stays_within_the_allowance():
    rng = np.random.default_rng(0)
    price = rng.normal(45, 15, 8760)
    base = np.full(8760, 1000.0)
    ev = place_curtailment(0.5, base, price=price, depth_pct=25)
    cut = sum(base[int(e.start_h)] - e.cap_mw for e in ev)
    assert cut <= 0.005 * 1000 * 8760 + 1e-6 and cut > 0.005 * 1000 * 8760 - 250  # up to P %, within one hour
    hours = [int(e.start_h) for e in ev]
    assert min(price[hours]) >= np.sort(price)[-len(hours) - 1]  # the most expensive hours


def test_duke_headroom_with_system_load():
    load = 60_000 + 10_000 * np.sin(np.arange(8760) / 8760 * 2 * np.pi * 365 / 1.0)
    base = np.full(8760, 1000.0)
    ev = place_curtailment(0.25, base, system_load_mw=load, depth_pct=50)
    cut = np.array([base[int(e.start_h)] - e.cap_mw for e in ev])
    assert cut.sum() == pytest.approx(0.0025 * 1000 * 8760, rel=1e-3)
    assert cut.max() <= 500 + 1e-9  # never deeper than depth_pct
    assert load[[int(e.start_h) for e in ev]].min() > np.median(load)  # in the peaks
