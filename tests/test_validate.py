"""twin.validate.check_fabric_ports: a layout whose scale-out links would carry a fractional number of switch ports
is warned about at its place (network.scale_out, with the line); the reference layouts cable whole ports."""

from __future__ import annotations

import numpy as np
import pytest

from tests.layout_edit import base, write
from twin.model import load_model
from twin.network.topology import build_fabric


def _fractional(model) -> list:
    return [w for w in model.warnings if "fractional number of switch ports" in w.message]


def test_kyber_pods_of_21_racks_on_4_rails_cable_whole_ports(tmp_path):
    # the former hall_kyber: 4 pods x 21 racks x 288 host ports, 4 rails of 512-port leaves (256 down / 256 up):
    # 24 leaves per pod, 96 leaves, 48 spines: 256 / 48 = 5.33 ports per leaf-spine link in the old fluid model
    # (warned). The fabric now deals whole cables (5 or 6 ports a spine), so there is nothing to warn about.
    d = base("hall_kyber.yaml")
    d["network"]["scale_out"]["rails"] = 4
    for row in d["halls"][0]["pods"][0]["rows"]:
        row["racks"] = 7
    model = load_model(write(tmp_path, d))
    assert not _fractional(model)
    fab = build_fabric(model)
    assert np.all(fab.ports == np.round(fab.ports))
    assert set(np.unique(fab.ports[fab.node_tier[fab.lo] == 1])) <= {4.0, 5.0, 6.0}


def test_reference_kyber_hall_cables_whole_ports(kyber_model):
    # 4 pods x 22 racks (8 + 7 + 7) x 288 ports on 8 rails: 6,336 ports per pod fill one group of 8 x 256 = 2,048
    # ports three times and 192 of the fourth, 32 leaves per pod; 128 leaves x 256 uplinks / 512 = 64 spines;
    # a full leaf sends 256 / 64 = 4 ports to every spine, a leaf of the last group (24 used) 1 port to 24 spines
    fab = build_fabric(kyber_model)
    tiers = fab.node_tier[fab.lo]
    assert np.sum(fab.node_tier == 1) == 128 and np.sum(fab.node_tier == 2) == 64
    assert set(np.unique(fab.ports[tiers == 1])) == {1.0, 4.0}
    assert np.all(fab.ports == np.round(fab.ports))
    assert not _fractional(kyber_model)


@pytest.mark.parametrize("fixture", ["pod_model", "hall_ac_model"])
def test_other_reference_fabrics_cable_whole_ports(fixture, request):
    m = request.getfixturevalue(fixture)
    fab = build_fabric(m)
    assert np.all(fab.ports == np.round(fab.ports)) and not _fractional(m)
