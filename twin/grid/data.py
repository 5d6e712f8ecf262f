"""Hourly inputs of a grid year: weather, prices, carbon intensity; read, converted and checked.

Every series is one year of 8,760 hours on its own clock, hour ``i`` being the hour that begins ``i`` hours after
1 January 00:00 of that clock: the site's weather (TMY3: local standard time, the value of the hour ending at
the label) and a market's prices are thereby aligned by local time of day (a German evening price peak falls
on the site's evening). The clock of a CSV is the UTC offset of its first row (no offset: the timestamps are
read as written); later rows may carry another offset (daylight saving) as long as consecutive rows are one
hour apart in absolute time.

Bad input (a missing file, missing or duplicate hours, a daylight-saving gap or repeat in local timestamps,
NaN or blank values, a unit that is not one of the kind's units, implausible values, a series shorter or longer
than a year) raises :class:`~twin.errors.InputError` with the file and line, before any solve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import InputError

__all__ = [
    "ASSETS",
    "HOURS",
    "Series",
    "Weather",
    "load_carbon",
    "load_price",
    "load_series_csv",
    "load_weather",
    "wet_bulb_c",
]

HOURS = 8760
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "grid"
MAX_CSV_BYTES = 20 * 1024 * 1024

# unit -> (canonical unit, factor to it). Prices per MWh in the currency given; carbon in gCO2/kWh.
PRICE_UNITS = {
    "eur/mwh": ("EUR/MWh", 1.0),
    "€/mwh": ("EUR/MWh", 1.0),
    "usd/mwh": ("USD/MWh", 1.0),
    "$/mwh": ("USD/MWh", 1.0),
    "eur/kwh": ("EUR/MWh", 1000.0),
    "usd/kwh": ("USD/MWh", 1000.0),
    "$/kwh": ("USD/MWh", 1000.0),
    "ct/kwh": ("EUR/MWh", 10.0),
    "eurct/kwh": ("EUR/MWh", 10.0),
    "cents/kwh": ("USD/MWh", 10.0),
}
CARBON_UNITS = {
    "gco2/kwh": ("gCO2/kWh", 1.0),
    "gco2eq/kwh": ("gCO2/kWh", 1.0),
    "gco2e/kwh": ("gCO2/kWh", 1.0),
    "kgco2/mwh": ("gCO2/kWh", 1.0),
    "kgco2eq/mwh": ("gCO2/kWh", 1.0),
    "tco2/mwh": ("gCO2/kWh", 1000.0),
    "tco2eq/mwh": ("gCO2/kWh", 1000.0),
    "kgco2/kwh": ("gCO2/kWh", 1000.0),
    "lbco2/mwh": ("gCO2/kWh", 0.45359237),
    "lb/mwh": ("gCO2/kWh", 0.45359237),
}
UNITS = {"price": PRICE_UNITS, "carbon": CARBON_UNITS, "load": {"mw": ("MW", 1.0), "gw": ("MW", 1000.0)}}
# plausible range after conversion (a value outside is almost always a unit mistake)
RANGES = {"price": (-5000.0, 20000.0), "carbon": (0.0, 2000.0), "load": (0.0, 5.0e6)}
SHIPPED = {
    "price": {"de-2018": "de_2018_price.csv"},
    "carbon": {"de-2018": "de_2018_carbon.csv"},
    "carbon_marginal": {"de-2018": "de_2018_carbon_marginal.csv"},
}


@dataclass
class Series:
    """One hourly year: ``values`` (8,760,) in ``unit``; ``source`` says where it came from."""

    values: np.ndarray
    unit: str
    source: str
    clock: str = ""  # e.g. "UTC+01:00"

    @property
    def currency(self) -> str:
        return self.unit.split("/")[0] if "/" in self.unit else ""


@dataclass
class Weather:
    """Hourly outdoor air of the site (8,760 rows): dry bulb, wet bulb, dew point (C), pressure (Pa)."""

    frame: (
        pd.DataFrame
    )  # dry_bulb_c, wet_bulb_c, dew_point_c (may be NaN when given as wet bulb), pressure_pa
    source: str
    start: pd.Timestamp  # 1 January 00:00 on the site's clock (tz-aware when the offset is known)
    utc_offset_h: float | None
    meta: dict = field(default_factory=dict)

    @property
    def times(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=HOURS, freq="h")


def _fail(path, line, message: str) -> InputError:
    where = f"{path}: line {line}: " if line is not None else f"{path}: "
    return InputError(where + message)


# --- psychrometrics ----------------------------------------------------------------------------------------------


def saturation_pressure_pa(t_c: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure over water (t >= 0 C) or ice (t < 0 C), Pa: Hyland & Wexler (1983) as given in
    ASHRAE Handbook Fundamentals 2017, ch. 1, eqs. 5 and 6."""
    t = np.asarray(t_c, dtype=float) + 273.15
    ice = -5.6745359e3 / t + 6.3925247 - 9.6778430e-3 * t + 6.2215701e-7 * t**2 + 2.0747825e-9 * t**3
    ice += -9.4840240e-13 * t**4 + 4.1635019 * np.log(t)
    water = -5.8002206e3 / t + 1.3914993 - 4.8640239e-2 * t + 4.1764768e-5 * t**2 - 1.4452093e-8 * t**3
    water += 6.5459673 * np.log(t)
    return np.exp(np.where(t >= 273.15, water, ice))


def _humidity_ratio(pw: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 0.621945 * pw / (p - pw)  # ASHRAE eq. 20, kg/kg dry air


def wet_bulb_c(
    dry_bulb_c: np.ndarray,
    pressure_pa: np.ndarray,
    *,
    dew_point_c: np.ndarray | None = None,
    relative_humidity: np.ndarray | None = None,
) -> np.ndarray:
    """Thermodynamic wet bulb (C) from dry bulb, pressure and dew point or relative humidity (0..1).

    The psychrometric wet-bulb equation of ASHRAE Handbook Fundamentals 2017, ch. 1 (eq. 33 above freezing,
    eq. 35 below), with Hyland-Wexler saturation pressures, solved by bisection for all hours at once
    (within 0.03 K of CoolProp's humid-air model ``HAPropsSI``; within 2 K of freezing the two may take the
    ice and the water branch and differ by up to 0.7 K, where the adiabatic pads are off anyway).
    """
    t = np.asarray(dry_bulb_c, dtype=float)
    p = np.broadcast_to(np.asarray(pressure_pa, dtype=float), t.shape)
    if dew_point_c is not None:
        pw = saturation_pressure_pa(np.minimum(np.asarray(dew_point_c, dtype=float), t))
    else:
        rh = np.clip(np.asarray(relative_humidity, dtype=float), 0.0, 1.0)
        pw = rh * saturation_pressure_pa(t)
    w = _humidity_ratio(pw, p)

    def w_of(ts):  # humidity ratio that makes ts the wet bulb of air at t
        ws = _humidity_ratio(saturation_pressure_pa(ts), p)
        above = ((2501.0 - 2.326 * ts) * ws - 1.006 * (t - ts)) / (2501.0 + 1.86 * t - 4.186 * ts)
        below = ((2830.0 - 0.24 * ts) * ws - 1.006 * (t - ts)) / (2830.0 + 1.86 * t - 2.1 * ts)
        return np.where(ts >= 0.0, above, below)

    lo, hi = np.full(t.shape, -100.0), t.copy()
    for _ in range(50):  # w_of increases with ts; 50 halvings of <= 160 K: < 1e-13 K
        mid = 0.5 * (lo + hi)
        low = w_of(mid) < w
        lo, hi = np.where(low, mid, lo), np.where(low, hi, mid)
    return np.minimum(0.5 * (lo + hi), t)


# --- CSV reading ---------------------------------------------------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise InputError(f"{path}: {size / 1e6:.1f} MB is larger than the 20 MB a year of hours can need")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a CSV table ({str(exc).strip()})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text (UTF-8) CSV file") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    return df


def _timestamps(path: Path, raw: pd.Series) -> tuple[pd.DatetimeIndex, pd.Timestamp, str]:
    """Parse and check hourly timestamps; returns (absolute times, first clock reading, clock label)."""
    txt = raw.astype(str).str.strip()
    stamps = []
    for i, s in enumerate(txt):
        try:
            ts = pd.Timestamp(s) if s else None
        except (ValueError, TypeError):
            ts = None
        if ts is None or ts is pd.NaT:
            raise _fail(
                path, i + 2, f"timestamp {s!r} is not a date and time (ISO 8601, e.g. 2018-01-01T00:00+01:00)"
            )
        stamps.append(ts)
    aware = [t.tzinfo is not None for t in stamps]
    if any(aware) and not all(aware):
        i = aware.index(not aware[0])
        raise _fail(
            path,
            i + 2,
            "timestamps mix times with and without a UTC offset: give every row an offset, or none",
        )
    first = stamps[0]
    if all(aware):
        clock = _offset_label(first.utcoffset())
        absolute = pd.DatetimeIndex([t.tz_convert("UTC") for t in stamps])
    else:
        clock = "as written (no UTC offset)"
        absolute = pd.DatetimeIndex(stamps)
    step = np.diff(absolute.asi8) / 3.6e12 if len(absolute) > 1 else np.array([])  # hours (ns -> h)
    bad = np.flatnonzero(np.abs(step - 1.0) > 1e-9)
    if bad.size:
        j = int(bad[0]) + 1
        prev, cur, d = txt.iloc[j - 1], txt.iloc[j], float(step[j - 1])
        hint = (
            " (a daylight-saving change? write each timestamp with its UTC offset, e.g. "
            "2018-03-25T03:00+02:00, or use standard time all year)"
            if not all(aware) and abs(abs(d) - 1.0) <= 1.0 + 1e-9
            else ""
        )
        if d <= 0:
            what = "repeats" if d == 0 else "goes back in time after"
            raise _fail(path, j + 2, f"timestamp {cur} {what} {prev}: duplicate hour{hint}")
        if d > 1:
            n = int(round(d)) - 1
            raise _fail(
                path, j + 2, f"timestamp {cur} follows {prev}: {n} hour{'s' if n != 1 else ''} missing{hint}"
            )
        raise _fail(
            path, j + 2, f"timestamp {cur} is {d * 60:.0f} min after {prev}: the series must be hourly"
        )
    if (first.month, first.day, first.hour, first.minute) != (1, 1, 0, 0):
        raise _fail(
            path,
            2,
            f"the year must start on 1 January 00:00 (the hour beginning then); it starts at {txt.iloc[0]}",
        )
    return absolute, first, clock


def _offset_label(off) -> str:
    h = off.total_seconds() / 3600 if off is not None else 0.0
    sign = "+" if h >= 0 else "-"
    hh, mm = divmod(round(abs(h) * 60), 60)
    return f"UTC{sign}{hh:02d}:{mm:02d}"


def _check_length(path: Path, n: int) -> None:
    if n == HOURS:
        return
    if n == HOURS + 24:
        raise InputError(f"{path}: {n:,} hours is a leap year: give 8,760 hours (leave out 29 February)")
    if n < HOURS:
        raise InputError(
            f"{path}: {n:,} hours, shorter than a year: a year needs 8,760 (line {n + 1} is the last)"
        )
    raise InputError(f"{path}: {n:,} hours, longer than a year: give one year of 8,760 hours")


def _numbers(path: Path, raw: pd.Series, column: str) -> np.ndarray:
    txt = raw.astype(str).str.strip()
    vals = pd.to_numeric(txt, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(vals))
    if bad.size:
        i = int(bad[0])
        s = txt.iloc[i]
        what = (
            "is missing"
            if s == "" or s.lower() in ("nan", "na", "null", "none")
            else f"{s!r} is not a number"
        )
        raise _fail(path, i + 2, f"{column} {what}" + (f" ({bad.size} such rows)" if bad.size > 1 else ""))
    return vals


def load_series_csv(path: str | Path, kind: str) -> Series:
    """A ``timestamp,value,unit`` CSV of one hourly year; ``kind`` is price, carbon or load.

    Values are converted to the kind's canonical unit (prices: <currency>/MWh; carbon: gCO2/kWh; load: MW).
    """
    path = Path(path)
    df = _read_csv(path)
    need = ["timestamp", "value", "unit"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise _fail(
            path, 1, f"missing column(s) {', '.join(missing)}: the header must be timestamp,value,unit"
        )
    if len(df) == 0:
        raise InputError(f"{path}: no rows: a year needs 8,760")
    units = UNITS[kind]
    utxt = df["unit"].astype(str).str.strip()
    first_unit = utxt.iloc[0]
    diff = np.flatnonzero(utxt.to_numpy() != first_unit)
    if diff.size:
        i = int(diff[0])
        raise _fail(
            path, i + 2, f"unit {utxt.iloc[i]!r} differs from {first_unit!r} of line 2: one unit per file"
        )
    key = (
        first_unit.lower()
        .replace(" ", "")
        .replace("₂", "2")
        .replace("co2e", "co2eq")
        .replace("co2eqq", "co2eq")
    )
    if key not in units:
        raise _fail(
            path,
            2,
            f"unit {first_unit!r} is not a {kind} unit (use one of {', '.join(sorted({u for u, _ in units.values()} | set(units)))})",
        )
    canon, factor = units[key]
    _check_length(path, len(df))
    _, first, clock = _timestamps(path, df["timestamp"])
    vals = _numbers(path, df["value"], "value") * factor
    lo, hi = RANGES[kind]
    out = np.flatnonzero((vals < lo) | (vals > hi))
    if out.size:
        i = int(out[0])
        raise _fail(
            path,
            i + 2,
            f"value {df['value'].iloc[i].strip()} {first_unit} is outside the plausible {kind} range "
            f"[{lo:g}, {hi:g}] {canon}: a wrong unit?",
        )
    return Series(vals, canon, f"{path} ({clock})", clock)


def _shipped(spec: str, kind: str) -> Path | None:
    name = SHIPPED[kind].get(spec.lower())
    return ASSETS / name if name else None


def load_price(spec: str) -> Series:
    """``de-2018`` (German day-ahead 2018, EUR/MWh, shipped) or a ``timestamp,value,unit`` CSV."""
    p = _shipped(spec, "price")
    if p is not None:
        s = load_series_csv(p, "price")
        s.source = "German day-ahead price 2018, SMARD.de (Bundesnetzagentur), CC BY 4.0; CET (UTC+01:00)"
        return s
    return _user_file(spec, "price", "--prices", "de-2018")


def load_carbon(spec: str, marginal: str | None = None) -> tuple[Series, Series | None]:
    """Average (and marginal, when given) carbon intensity, gCO2/kWh: ``de-2018`` (both shipped) or CSV(s)."""
    p = _shipped(spec, "carbon")
    if p is not None:
        avg = load_series_csv(p, "carbon")
        avg.source = (
            "German generation 2018, ENTSO-E actual generation per type x Tranberg et al. (2019) life-cycle "
            "factors; CET (UTC+01:00)"
        )
        m = load_series_csv(_shipped(spec, "carbon_marginal"), "carbon")
        m.source = "German marginal emission factor 2018, elmada merit-order model (MEF_PP); CET (UTC+01:00)"
        if marginal is not None:
            m = _user_file(marginal, "carbon", "--carbon-marginal", None)
        return avg, m
    avg = _user_file(spec, "carbon", "--carbon", "de-2018")
    return avg, (_user_file(marginal, "carbon", "--carbon-marginal", None) if marginal else None)


def _user_file(spec: str, kind: str, option: str, shipped: str | None) -> Series:
    p = Path(spec)
    if not p.suffix.lower() == ".csv" and not p.exists():
        alt = f"'{shipped}' or " if shipped else ""
        raise InputError(f"{option} {spec!r}: not {alt}a CSV file (timestamp,value,unit)")
    return load_series_csv(p, kind)


# --- weather -------------------------------------------------------------------------------------------------------


def _tmy3_path(name: str) -> Path:
    p = Path(name)
    if p.is_file():
        return p
    import pvlib

    data = Path(pvlib.__file__).resolve().parent / "data"
    for f in sorted(data.iterdir()):
        if f.suffix.lower() == ".csv" and f.stem.lower() == name.lower():
            return f
    have = sorted(f.stem for f in data.iterdir() if f.suffix.lower() == ".csv" and f.stem[:6].isdigit())
    raise InputError(
        f"--weather tmy3:{name}: no such TMY3 file (pvlib ships {', '.join(have)}; or give a path)"
    )


def load_weather(spec: str, *, altitude_m: float = 0.0, year: int = 2018) -> Weather:
    """``tmy3:NAME`` (a TMY3 file pvlib ships, or a path) or a CSV with ``timestamp, dry_bulb_c`` and one of
    ``wet_bulb_c``, ``dew_point_c``, ``relative_humidity_pct`` (optional ``pressure_pa``; default the standard
    atmosphere at the site's altitude)."""
    if spec.lower().startswith("tmy3:"):
        return _load_tmy3(spec[5:], year)
    return _load_weather_csv(Path(spec), altitude_m)


def _load_tmy3(name: str, year: int) -> Weather:
    import pvlib

    path = _tmy3_path(name)
    try:
        data, meta = pvlib.iotools.read_tmy3(str(path), coerce_year=year, map_variables=True)
    except Exception as exc:  # a file that is not TMY3
        raise InputError(
            f"{path}: not a TMY3 file that pvlib can read ({type(exc).__name__}: {exc})"
        ) from None
    _check_length(path, len(data))
    for col in ("temp_air", "temp_dew", "pressure"):
        v = data[col].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise _fail(path, int(bad[0]) + 3, f"{col} is missing")  # two header lines
    t = data["temp_air"].to_numpy(dtype=float)
    td = data["temp_dew"].to_numpy(dtype=float)
    p = data["pressure"].to_numpy(dtype=float) * 100.0  # mbar -> Pa
    wb = wet_bulb_c(t, p, dew_point_c=td)
    off = float(meta.get("TZ", 0.0))
    # TMY3 labels the hour by its end (01:00 .. 24:00): hour i begins at 1 January 00:00 + i h
    start = pd.Timestamp(f"{year}-01-01 00:00").tz_localize(_fixed_tz(off))
    frame = pd.DataFrame({"dry_bulb_c": t, "wet_bulb_c": wb, "dew_point_c": td, "pressure_pa": p})
    name_txt = str(meta.get("Name", path.stem)).strip('"')
    src = f"TMY3 {path.stem} ({name_txt}, {meta.get('State', '')}; NREL, via pvlib), local standard time {_offset_label(pd.Timedelta(hours=off))}"
    return Weather(frame, src, start, off, dict(meta))


def _fixed_tz(offset_h: float):
    import datetime as dt

    return dt.timezone(dt.timedelta(hours=offset_h))


def _load_weather_csv(path: Path, altitude_m: float) -> Weather:
    df = _read_csv(path)
    if "timestamp" not in df.columns:
        raise _fail(
            path,
            1,
            "missing column timestamp (weather CSV: timestamp, dry_bulb_c and one of wet_bulb_c, dew_point_c, relative_humidity_pct)",
        )
    for col in df.columns:
        if col.endswith(("_f", "_k")) and col.rsplit("_", 1)[0] in ("dry_bulb", "wet_bulb", "dew_point"):
            raise _fail(path, 1, f"column {col}: give temperatures in C ({col.rsplit('_', 1)[0]}_c)")
    if "dry_bulb_c" not in df.columns:
        raise _fail(path, 1, "missing column dry_bulb_c (outdoor dry bulb, C)")
    hum = [c for c in ("wet_bulb_c", "dew_point_c", "relative_humidity_pct") if c in df.columns]
    if not hum:
        raise _fail(
            path, 1, "give the humidity as one of the columns wet_bulb_c, dew_point_c, relative_humidity_pct"
        )
    _check_length(path, len(df))
    _, first, clock = _timestamps(path, df["timestamp"])
    t = _numbers(path, df["dry_bulb_c"], "dry_bulb_c")
    _plausible(path, t, "dry_bulb_c", -60.0, 60.0, "C (Fahrenheit or kelvin?)")
    if "pressure_pa" in df.columns:
        p = _numbers(path, df["pressure_pa"], "pressure_pa")
        _plausible(path, p, "pressure_pa", 40_000.0, 110_000.0, "Pa (hPa or kPa?)")
    else:
        from twin.thermal.properties import air_pressure_pa

        p = np.full(HOURS, air_pressure_pa(altitude_m))
    td = np.full(HOURS, np.nan)
    kind = hum[0]
    if kind == "wet_bulb_c":
        wb = _numbers(path, df["wet_bulb_c"], "wet_bulb_c")
        _plausible(path, wb, "wet_bulb_c", -60.0, 45.0, "C (Fahrenheit or kelvin?)")
        over = np.flatnonzero(wb > t + 0.05)
        if over.size:
            i = int(over[0])
            raise _fail(path, i + 2, f"wet_bulb_c {wb[i]:g} is above dry_bulb_c {t[i]:g}")
        wb = np.minimum(wb, t)
    elif kind == "dew_point_c":
        td = _numbers(path, df["dew_point_c"], "dew_point_c")
        _plausible(path, td, "dew_point_c", -80.0, 40.0, "C (Fahrenheit or kelvin?)")
        over = np.flatnonzero(td > t + 0.05)
        if over.size:
            i = int(over[0])
            raise _fail(path, i + 2, f"dew_point_c {td[i]:g} is above dry_bulb_c {t[i]:g}")
        wb = wet_bulb_c(t, p, dew_point_c=td)
    else:
        rh = _numbers(path, df["relative_humidity_pct"], "relative_humidity_pct")
        _plausible(path, rh, "relative_humidity_pct", 0.0, 100.0, "%")
        if rh.max() <= 1.0:
            raise _fail(
                path, 2, "relative_humidity_pct looks like a fraction (all values <= 1): give percent"
            )
        wb = wet_bulb_c(t, p, relative_humidity=rh / 100.0)
    start = first if first.tzinfo is not None else pd.Timestamp(first)
    off = first.utcoffset().total_seconds() / 3600 if first.tzinfo is not None else None
    frame = pd.DataFrame({"dry_bulb_c": t, "wet_bulb_c": wb, "dew_point_c": td, "pressure_pa": p})
    return Weather(frame, f"{path} ({clock})", start, off, {})


def _plausible(path: Path, v: np.ndarray, col: str, lo: float, hi: float, unit: str) -> None:
    bad = np.flatnonzero((v < lo) | (v > hi))
    if bad.size:
        i = int(bad[0])
        raise _fail(
            path, i + 2, f"{col} = {v[i]:g} is outside [{lo:g}, {hi:g}]: not a plausible value in {unit}"
        )


def local_times(weather: Weather) -> pd.DatetimeIndex:
    """The start of every hour of the year on the site's clock."""
    return weather.times


def finite(x) -> bool:
    return x is not None and math.isfinite(x)
