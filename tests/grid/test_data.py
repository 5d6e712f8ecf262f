"""Hourly inputs: shipped data, TMY3 weather, wet bulb, and every kind of bad series (file and line named)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.grid.conftest import write_series
from twin.errors import InputError
from twin.grid.data import HOURS, load_carbon, load_price, load_series_csv, load_weather, wet_bulb_c


def test_shipped_german_2018_data():
    p = load_price("de-2018")
    avg, marg = load_carbon("de-2018")
    assert p.unit == "EUR/MWh" and len(p.values) == HOURS
    assert 40 < p.values.mean() < 50 and p.values.min() < 0  # 2018: mean 44.5, negative hours
    assert 400 < avg.values.mean() < 600 and marg.values.mean() > avg.values.mean()


def test_tmy3_weather_greensboro():
    w = load_weather("tmy3:723170TYA")
    f = w.frame
    assert len(f) == HOURS and w.utc_offset_h == -5
    assert (f["wet_bulb_c"] <= f["dry_bulb_c"] + 1e-9).all()
    assert (f["wet_bulb_c"] >= f["dew_point_c"] - 1e-6).all()
    assert 30 < f["dry_bulb_c"].max() < 40 and f["dry_bulb_c"].min() < 0
    assert str(w.start) == "2018-01-01 00:00:00-05:00"


def test_unknown_tmy3_file_lists_the_shipped_ones():
    with pytest.raises(InputError, match="723170TYA"):
        load_weather("tmy3:999999")


def test_wet_bulb_matches_coolprop():
    from CoolProp.CoolProp import HAPropsSI

    rng = np.random.default_rng(1)
    t = rng.uniform(-20, 45, 300)
    td = t - rng.uniform(0, 25, 300)
    p = rng.uniform(85_000, 102_000, 300)
    ours = wet_bulb_c(t, p, dew_point_c=td)
    ref = HAPropsSI("B", "T", t + 273.15, "P", p, "D", np.minimum(td, t) + 273.15) - 273.15
    away = np.abs(ref) > 2.0  # near freezing the two may take the ice or the water branch
    assert np.max(np.abs(ours - ref)[away]) < 0.03


def test_user_series_with_utc_offsets_across_dst(tmp_path):
    # local timestamps with their offset across both daylight-saving changes: one hour apart in absolute time
    t = pd.date_range("2018-01-01", periods=HOURS, freq="h", tz="Europe/Berlin")
    stamps = [x.isoformat() for x in t]
    s = load_series_csv(write_series(tmp_path / "p.csv", stamps=stamps), "price")
    assert len(s.values) == HOURS and s.clock == "UTC+01:00"


def test_units_are_converted(tmp_path):
    s = load_series_csv(
        write_series(tmp_path / "c.csv", values=np.full(HOURS, 0.4), unit="tCO2/MWh"), "carbon"
    )
    assert s.unit == "gCO2/kWh" and np.allclose(s.values, 400.0)
    p = load_series_csv(write_series(tmp_path / "p.csv", values=np.full(HOURS, 5.0), unit="ct/kWh"), "price")
    assert np.allclose(p.values, 50.0) and p.unit == "EUR/MWh"


def _bad(tmp_path, kind="price", **kw):
    path = write_series(tmp_path / "bad.csv", **kw)
    with pytest.raises(InputError) as exc:
        load_series_csv(path, kind)
    msg = str(exc.value)
    assert str(path) in msg
    return msg


def _stamps(n=HOURS):
    return [x.strftime("%Y-%m-%dT%H:%M") for x in pd.date_range("2018-01-01", periods=n, freq="h")]


def test_missing_hour(tmp_path):
    st = _stamps(HOURS + 1)
    del st[100]
    msg = _bad(tmp_path, stamps=st, values=np.ones(HOURS))
    assert "line 102" in msg and "1 hour missing" in msg


def test_duplicate_hour(tmp_path):
    st = _stamps()
    st[200] = st[199]
    msg = _bad(tmp_path, stamps=st, values=np.ones(HOURS))
    assert "line 202" in msg and "duplicate" in msg


def test_dst_gap_in_local_timestamps(tmp_path):
    # local clock without offsets: 25 March 2018 02:00 does not exist in Europe/Berlin
    t = pd.date_range("2018-01-01", periods=HOURS, freq="h", tz="Europe/Berlin")
    st = [x.strftime("%Y-%m-%dT%H:%M") for x in t]
    msg = _bad(tmp_path, stamps=st, values=np.ones(HOURS))
    i = next(k for k, s in enumerate(st) if s.startswith("2018-03-25T03"))
    assert f"line {i + 2}" in msg and "daylight-saving" in msg


def test_wrong_unit(tmp_path):
    msg = _bad(tmp_path, unit="EUR/MW")
    assert "line 2" in msg and "not a price unit" in msg


def test_implausible_value_hints_at_the_unit(tmp_path):
    v = np.full(HOURS, 300.0)
    v[5] = 450_000.0  # g/MWh given as g/kWh
    msg = _bad(tmp_path, kind="carbon", values=v, unit="gCO2/kWh")
    assert "line 7" in msg and "wrong unit" in msg


def test_nan_value(tmp_path):
    v = np.ones(HOURS)
    v[10] = np.nan
    msg = _bad(tmp_path, values=v)
    assert "line 12" in msg and "missing" in msg


def test_short_series(tmp_path):
    msg = _bad(tmp_path, n=8000, values=np.ones(8000))
    assert "shorter than a year" in msg and "8,000" in msg


def test_leap_year(tmp_path):
    msg = _bad(tmp_path, n=8784, values=np.ones(8784), start="2020-01-01T00:00")
    assert "leap year" in msg


def test_not_starting_on_new_year(tmp_path):
    msg = _bad(tmp_path, start="2018-01-02T00:00")
    assert "line 2" in msg and "1 January" in msg


def test_missing_columns(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("time,price\n2018-01-01T00:00,3\n")
    with pytest.raises(InputError, match=r"x.csv: line 1: missing column"):
        load_series_csv(p, "price")


def test_weather_csv_in_fahrenheit_is_refused(tmp_path):
    t = pd.date_range("2018-01-01", periods=HOURS, freq="h")
    df = pd.DataFrame({"timestamp": t.strftime("%Y-%m-%dT%H:%M"), "dry_bulb_c": 95.0, "dew_point_c": 50.0})
    p = tmp_path / "w.csv"
    df.to_csv(p, index=False)
    with pytest.raises(InputError, match=r"w.csv: line 2: dry_bulb_c = 95"):
        load_weather(str(p))


def test_weather_csv_with_relative_humidity(tmp_path):
    t = pd.date_range("2018-01-01", periods=HOURS, freq="h")
    df = pd.DataFrame(
        {"timestamp": t.strftime("%Y-%m-%dT%H:%M"), "dry_bulb_c": 30.0, "relative_humidity_pct": 40.0}
    )
    p = tmp_path / "w.csv"
    df.to_csv(p, index=False)
    w = load_weather(str(p))
    assert np.allclose(w.frame["wet_bulb_c"], 20.0, atol=0.6)  # psychrometric chart: 30 C, 40 % -> ~19.9 C
