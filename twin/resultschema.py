"""The result schema: every result table's columns and every KPI, with unit and a one-line description.

The schema is data (``twin/results_schema.yaml``, in the spirit of PyPSA's component attribute files); the
dashboard takes its axis labels and colour-bar units from it, the docs list it, and a test checks that every
column and KPI a solver emits is listed and that everything listed is emitted by some analysis.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

SCHEMA_FILE = Path(__file__).with_name("results_schema.yaml")

__all__ = ["SCHEMA_FILE", "column", "kpi", "label", "load_schema"]


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """``{"tables": {table: {"description", "columns": {col: {unit, description}}}}, "kpis": {key: {unit, description}}}``."""
    return yaml.safe_load(SCHEMA_FILE.read_text())


def column(table: str, name: str) -> dict:
    """Unit and description of one column (KeyError if the schema does not list it)."""
    return load_schema()["tables"][table]["columns"][name]


def kpi(name: str) -> dict:
    """Unit and description of one KPI (KeyError if the schema does not list it)."""
    return load_schema()["kpis"][name]


def label(table: str | None, name: str) -> str:
    """An axis / colour-bar label: ``description [unit]`` (the unit left out when dimensionless)."""
    entry = kpi(name) if table is None else column(table, name)
    unit = entry.get("unit", "-")
    return entry["description"] + ("" if unit in ("-", "", None) else f" [{unit}]")
