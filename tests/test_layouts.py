"""The reference layouts are sized like real facilities: equipment matched to the load it carries."""

from __future__ import annotations

import pytest

from twin.layout import spare_units
from twin.model import load_model

LAYOUTS = ["pod_small.yaml", "hall_100mw_ac.yaml", "hall_kyber.yaml", "campus_1gw.yaml"]


@pytest.mark.parametrize("name", LAYOUTS)
def test_substation_sized_to_the_grid_connection(layouts_dir, name):
    """Firm substation capacity covers the grid connection (the grid, not the substation, limits the site) and
    its no-load loss is under 1 % of the connection (2 x 100 MVA on the 5 MW pod lost 2.2 % before)."""
    m = load_model(layouts_dir / name)
    sub = m.layout.electrical.substation
    tr = m.catalog.get("transformers", sub.transformer)
    firm_mva = (sub.units - spare_units(sub.redundancy, sub.units)) * tr.rating_kva / 1e3
    grid_mw = m.layout.site.grid_limit_mw
    assert firm_mva >= grid_mw
    assert sub.units * tr.no_load_loss_kw / 1e3 <= 0.01 * grid_mw
