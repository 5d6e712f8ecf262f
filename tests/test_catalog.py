import numpy as np
import pytest

from twin.catalog import load_catalog
from twin.catalog.schema import SECTIONS
from twin.errors import LayoutError


def test_every_entry_has_a_source_and_required_sections():
    cat = load_catalog()
    for section in (
        "racks",
        "gpus",
        "cdus",
        "dry_coolers",
        "chillers",
        "pumps",
        "transformers",
        "rectifiers",
        "ups",
        "power_shelves",
        "switches",
        "optics",
    ):
        assert cat.names(section), f"catalog section {section} is empty"
    for section in SECTIONS:
        for e in cat.entries[section].values():
            assert len(e.source) > 10, f"{section}.{e.name} has no real source"


def test_required_rack_types_present():
    cat = load_catalog()
    ff = {n: cat.rack(n).form_factor for n in cat.names("racks")}
    assert ff["gb300-nvl72"] == "oberon" and ff["vr-nvl72"] == "oberon" and ff["ru-nvl576"] == "kyber"
    assert cat.rack("ru-nvl576").gpus == 576 and cat.rack("vr-nvl72").gpus == 72


@pytest.mark.parametrize(
    "name", ["gb300-nvl72", "vr-nvl72", "ru-nvl576", "hgx-h100", "hgx-h100-lc", "groq-lpx"]
)
def test_rack_power_is_gpus_times_gpu_power_plus_rest(name):
    cat = load_catalog()
    r = cat.rack(name)
    g = cat.gpu(r.gpu)
    assert r.gpus * g.power_max_w / 1e3 + r.other_power_kw == pytest.approx(r.power_maxp_kw, rel=0.01)
    assert r.gpus * g.power_maxq_w / 1e3 + r.other_power_kw == pytest.approx(r.power_maxq_kw, rel=0.01)


def test_token_factory_rack_types_present():
    """Issue 13: the keynote's Hopper baseline (air and liquid), and the Groq LPX decode rack (LP30 LPUs)."""
    cat = load_catalog()
    h, lc, lpx = cat.rack("hgx-h100"), cat.rack("hgx-h100-lc"), cat.rack("groq-lpx")
    assert h.gpu == "h100" and cat.gpu("h100").power_max_w == 700.0 and h.liquid_fraction == 0.0
    assert h.power_maxp_kw / (h.gpus / 8) == pytest.approx(10.2, rel=0.01)  # one HGX server per 8 GPUs
    assert lc.liquid_fraction > 0.5
    assert lpx.gpus == 256 and lpx.nvlink_tb_s == 0 and lpx.nvlink_switch_trays == 0
    f = cat.gpu("lp30").frontier
    assert f.serving == "decode" and "500 MB" in cat.gpu("lp30").source
    for name in ("h100", "b300", "rubin", "lp30"):
        assert cat.gpu(name).frontier is not None


def test_throughput_curves_increasing_concave_and_reach_one():
    cat = load_catalog()
    for g in cat.entries["gpus"].values():
        for kind, c in g.throughput_curves.items():
            x, y = np.array(c.power_fraction), np.array(c.relative_throughput)
            s = np.diff(y) / np.diff(x)
            assert np.all(s > 0) and np.all(np.diff(s) <= 1e-12), f"{g.name}/{kind}"
            assert x[-1] == 1.0 and y[-1] == 1.0
            assert x[0] <= g.power_min_w / g.power_max_w


def test_titanium_psu_curve_points_from_80plus_table():
    shelf = load_catalog().get("power_shelves", "gb-shelf-33kw").efficiency_curve
    assert dict(zip(shelf.load_fraction, shelf.efficiency, strict=True)) == {
        0.1: 0.90,
        0.2: 0.94,
        0.5: 0.96,
        1.0: 0.91,
    }


def test_user_catalog_adds_and_replaces_with_warning(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text(
        "cdus:\n"
        "  - {name: my-cdu, capacity_kw: 800, approach_k: 3, flow_lpm: 900, pump_head_kpa: 200,"
        " pump_efficiency: 0.6, secondary_volume_l: 150, source: 'datasheet rev 3'}\n"
        "  - {name: coolit-chx2000, capacity_kw: 1800, approach_k: 5, flow_lpm: 2125, pump_head_kpa: 241,"
        " pump_efficiency: 0.6, secondary_volume_l: 400, source: 'derated by our test lab'}\n"
    )
    cat = load_catalog([f])
    assert cat.get("cdus", "my-cdu").capacity_kw == 800
    assert cat.get("cdus", "coolit-chx2000").capacity_kw == 1800
    assert any("replaces the built-in" in w.message for w in cat.warnings)
    assert load_catalog().get("cdus", "coolit-chx2000").capacity_kw == 2000  # built-in untouched


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("cdus:\n  - {name: x, capacity_kw: 800}\n", "cdus[0].approach_k: required field is missing"),
        (
            "cdus:\n  - {name: x, capacity_kw: -1, approach_k: 3, flow_lpm: 9, pump_head_kpa: 2, pump_efficiency: 0.6,"
            " secondary_volume_l: 1, source: abcd}\n",
            "cdus[0].capacity_kw",
        ),
        ("pumpz:\n  - {name: x}\n", "unknown catalog section"),
        (
            "racks:\n  - {name: r, source: abcdef, form_factor: oberon, gpu: nope, gpus: 1, power_maxp_kw: 1,"
            " power_maxq_kw: 1, other_power_kw: 0, liquid_fraction: 1, design_flow_lpm_per_kw: 1.5,"
            " cold_plate_r_k_per_w: 0.01, cold_plate_r_conv_fraction: 0.5, dp_design_kpa: 50, dp_exponent: 2,"
            " power_inputs: [dc800], dcdc: dcdc-800v-54v, power_shelves: 0, nvlink_domain_gpus: 1,"
            " nvlink_switch_trays: 0, nvlink_tb_s: 0, nics_per_gpu: 1, nic: cx8-800g, width_m: 0.6, depth_m: 1,"
            " height_m: 2}\n",
            "racks.r.gpu: unknown gpus entry 'nope'",
        ),
    ],
)
def test_bad_user_catalog_names_the_place(tmp_path, text, fragment):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(LayoutError) as exc:
        load_catalog([f])
    assert fragment in str(exc.value)
