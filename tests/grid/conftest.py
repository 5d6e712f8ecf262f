"""Shared fixtures of the grid tests: hourly CSV writers and one pod_small year (all strategies, two events)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

POD = "layouts/pod_small.yaml"


def write_series(
    path, values=None, unit="EUR/MWh", start="2018-01-01T00:00", n=8760, offset="+01:00", stamps=None
):
    """A timestamp,value,unit CSV; ``stamps`` overrides the timestamps (strings)."""
    if stamps is None:
        t = pd.date_range(start, periods=n, freq="h")
        stamps = [x.strftime("%Y-%m-%dT%H:%M") + offset for x in t]
    if values is None:
        values = 40 + 10 * np.sin(np.arange(len(stamps)) / 24 * 2 * np.pi)
    pd.DataFrame({"timestamp": stamps, "value": values, "unit": unit}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def pod_year(tmp_path_factory):
    """pod_small over the TMY3 year with a -25 % 3 h event (the Emerald AI Phoenix preset) on a hot afternoon
    and a MW-capped event, every strategy (maxq-cooling included); from the response surface, validated at random and event hours."""
    from twin.grid.year import simulate_year

    d = tmp_path_factory.mktemp("grid")
    ev = d / "events.yaml"
    ev.write_text(
        "events:\n"
        "  - {preset: emerald-phoenix, start: 2018-07-16T15:00}\n"
        "  - {name: winter-cap, start: 2018-01-10T17:30, duration_h: 2, cap_mw: 3.0, ramp_min: 30, notice_min: 120}\n"
    )
    return simulate_year(
        POD, events_file=str(ev), strategies=("fixed", "maxq", "maxq-cooling", "shed"), validate_event_hours=4
    )
