"""Network power: hand calculation on the small pod, CPO vs pluggable ratio, per-pod balance."""

from __future__ import annotations

import numpy as np
import pytest

from twin.network import fabric_power
from twin.network.sizing import leaf_ports


def test_pod_power_by_hand(pod_model):
    m = pod_model
    cat = m.catalog
    sw = cat.get("switches", "sn5600")
    plug = cat.get("optics", "osfp-800g-dr8")
    p = fabric_power(m, "pluggable")
    back = m.switches["plane"] == "backend"
    # every backend port is used (1:1 leaves full, spines full): 64 ports per switch
    n_back = int(back.sum())
    backend_ports = n_back * sw.ports
    # frontend: 1,152 GPUs x 200G / 800G host ports, uplinks as many again (1:1 leaves)
    fe_host = m.n_gpus * 200.0 / 800.0
    fdown, fup = leaf_ports(sw.ports, 1.0)
    fe_ports = fe_host * (1 + fup / fdown)
    host_ports = m.n_racks * 72 * 1600.0 / 800.0  # VR NVL72: 72 x 1.6T NICs = 144 ports of 800G
    expect_switch = len(m.switches) * sw.power_w + (backend_ports + fe_ports) * plug.power_w
    expect_host = (host_ports + fe_ports) * plug.power_w  # NIC ends + far ends of frontend uplinks
    assert p["switch_power_w"].sum() == pytest.approx(expect_switch, rel=1e-12)
    assert p["host_optics_w"] == pytest.approx(expect_host, rel=1e-12)
    assert p["total_w"] == pytest.approx(expect_switch + expect_host, rel=1e-12)
    assert p["transceivers"] == round(backend_ports + 2 * fe_ports + host_ports)
    assert p["switch_power_w"].shape == (len(m.switches),)
    # NICs and NVLink trays are inside the racks' power: reported, not added
    assert p["nic_power_w"] == pytest.approx(m.n_racks * 72 * cat.get("nics", "cx9-1600g").power_w)
    assert p["nvlink_switch_trays"] == 9 * m.n_racks


@pytest.mark.parametrize("fixture", ["pod_model", "hall_ac_model", "kyber_model"])
def test_power_by_pod_sums_to_total(fixture, request):
    m = request.getfixturevalue(fixture)
    for kind in ("pluggable", "cpo"):
        p = fabric_power(m, kind)
        assert p["power_w_by_pod"].shape == (len(m.pods),)
        assert p["power_w_by_pod"].sum() == pytest.approx(p["total_w"], rel=1e-12)
        assert np.all(p["power_w_by_pod"] > 0)


def test_cpo_vs_pluggable_ratio(hall_ac_model):
    m = hall_ac_model
    cat = m.catalog
    plug_w = cat.get("optics", "osfp-800g-dr8").power_w
    cpo_w = cat.get("optics", "cpo-800g").power_w
    a = fabric_power(m, "pluggable")
    b = fabric_power(m, "cpo")
    # switch-side backend optics scale by the catalog's per-port ratio (NVIDIA: 3.5x)
    ratio = a["backend_switch_optics_w"] / b["backend_switch_optics_w"]
    assert ratio == pytest.approx(plug_w / cpo_w, rel=1e-12)
    assert ratio == pytest.approx(3.5, rel=0.01)
    # the whole-fabric saving is exactly the backend switch ports times the per-port difference
    ports = a["backend_switch_optics_w"] / plug_w
    assert a["total_w"] - b["total_w"] == pytest.approx(ports * (plug_w - cpo_w), rel=1e-12)
    # NIC-side and frontend optics stay pluggable; switch systems unchanged
    assert a["host_optics_w"] == b["host_optics_w"] and a["switch_system_w"] == b["switch_system_w"]
    assert b["total_w"] < a["total_w"]


def test_bad_optics_kind(pod_model):
    from twin.errors import InputError

    with pytest.raises(InputError):
        fabric_power(pod_model, "copper")


@pytest.mark.parametrize(("fixture", "ends"), [("pod_model", 4), ("hall_ac_model", 6)])
def test_optical_ends_per_host_port(fixture, ends, request):
    # a non-blocking 2-tier fabric has 4 optical ends per host port (NIC, leaf down, leaf up, spine down),
    # a 3-tier one 6: this is NVIDIA's 400k-GPU arithmetic (400k x 6 x 30 W = 72 MW of pluggable optics)
    m = request.getfixturevalue(fixture)
    p = fabric_power(m, "pluggable")
    back = (m.switches["plane"] == "backend").to_numpy()
    host = m.n_racks * 72 * 1600.0 / 800.0
    assert (p["switch_ports_used"][back].sum() + host) / host == pytest.approx(ends, rel=1e-12)
