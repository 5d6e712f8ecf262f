"""Units and descriptions of the grid year's hourly columns and KPIs: the ``grid`` section of
``twin/results_schema.yaml`` (a section of its own: ``twin grid`` is not an analysis of ``twin.run``)."""

from __future__ import annotations

from twin.resultschema import load_schema

__all__ = ["column", "grid_schema", "kpi_units"]


def grid_schema() -> dict:
    return load_schema()["grid"]


def column(name: str) -> dict:
    """Unit and description of an hourly column (per-tier columns by their ``<tier>`` pattern)."""
    cols = grid_schema()["tables"]["hourly"]["columns"]
    if name in cols:
        return cols[name]
    for pattern in ("tokens_per_s_", "revenue_usd_"):
        if name.startswith(pattern):
            return cols[pattern + "<tier>"]
    raise KeyError(name)


def kpi_units() -> dict[str, str]:
    return {k: v["unit"] for k, v in grid_schema()["kpis"].items()}
