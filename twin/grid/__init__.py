"""Grid-coupling what-if: a year of weather, prices, carbon and curtailment events, answered by Max-Q.

- :mod:`twin.grid.data`: weather (pvlib TMY3 or CSV), prices, carbon intensity; validation of user series.
- :mod:`twin.grid.events`: events YAML, presets of published demonstrations, Duke-style curtailment placement.
- :mod:`twin.grid.surrogate`: response surfaces of the site built from exact solves, and exact solves per hour.
- :mod:`twin.grid.year`: the hourly simulation per strategy (fixed, maxq, shed) and the yearly KPIs.
- :mod:`twin.grid.report`: the self-contained HTML report.
"""

from __future__ import annotations

__all__ = ["simulate_year"]


def __getattr__(name):
    if name == "simulate_year":
        from twin.grid.year import simulate_year

        return simulate_year
    raise AttributeError(name)
