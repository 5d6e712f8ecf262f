"""Bad input: every malformed layout gives LayoutError with one problem per mistake, naming its place and line."""

import pytest

from tests.layout_edit import base, write
from twin.catalog import load_catalog
from twin.errors import LayoutError
from twin.layout import spare_units
from twin.model import load_model


def problems_of(tmp_path, data, severity="error"):
    with pytest.raises(LayoutError) as exc:
        load_model(write(tmp_path, data))
    return [p for p in exc.value.problems if p.severity == severity]


def row0(d):
    return d["halls"][0]["pods"][0]["rows"][0]


def test_unknown_rack_type_names_place_line_and_known_types(tmp_path):
    d = base()
    d["halls"][0]["pods"][0]["rows"][1]["rack_type"] = "kyber-x"
    (p,) = problems_of(tmp_path, d)
    assert p.path == "halls[0].pods[0].rows[1].rack_type"
    known = ", ".join(sorted(load_catalog().names("racks")))
    assert f"unknown rack type 'kyber-x' (known: {known})" in p.message and "vr-nvl72" in known
    assert p.line is not None and "kyber-x" in (tmp_path / "layout.yaml").read_text().splitlines()[p.line - 1]


def test_yaml_syntax_error_has_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("site:\n  name: x\n  grid_limit_mw: [1, 2\nhalls: []\n")
    with pytest.raises(LayoutError) as exc:
        load_model(f)
    (p,) = exc.value.problems
    assert "YAML syntax error" in p.message and p.line is not None


def test_duplicate_yaml_key(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text("site:\n  name: a\n  name: b\n")
    with pytest.raises(LayoutError) as exc:
        load_model(f)
    assert "duplicate key 'name' (first at line 2)" in str(exc.value)
    assert exc.value.problems[0].line == 3


@pytest.mark.parametrize("content, msg", [("", "file is empty"), ("- 1\n- 2\n", "must be a YAML mapping")])
def test_empty_and_non_mapping(tmp_path, content, msg):
    f = tmp_path / "x.yaml"
    f.write_text(content)
    with pytest.raises(LayoutError, match=msg):
        load_model(f)


def test_missing_file(tmp_path):
    with pytest.raises(LayoutError, match="file not found"):
        load_model(tmp_path / "nope.yaml")


def test_unknown_key_typo(tmp_path):
    d = base()
    row0(d)["rack_typo"] = "vr-nvl72"
    ps = problems_of(tmp_path, d)
    assert any(p.path == "halls[0].pods[0].rows[0].rack_typo" and "unknown key" in p.message for p in ps)


def test_wrong_type_and_missing_field(tmp_path):
    d = base()
    row0(d)["racks"] = "eight"
    del d["halls"][0]["pods"][0]["rows"][1]["busway"]
    ps = {p.path: p.message for p in problems_of(tmp_path, d)}
    assert "valid integer" in ps["halls[0].pods[0].rows[0].racks"]
    assert ps["halls[0].pods[0].rows[1].busway"] == "required field is missing"


@pytest.mark.parametrize(
    "edit, path",
    [
        (lambda d: row0(d).__setitem__("racks", 0), "halls[0].pods[0].rows[0].racks"),
        (lambda d: row0(d).__setitem__("racks", -3), "halls[0].pods[0].rows[0].racks"),
        (
            lambda d: d["halls"][0]["pods"][0]["cooling_loops"][0].__setitem__("units", 0),
            "halls[0].pods[0].cooling_loops[0].units",
        ),
        (
            lambda d: d["halls"][0]["pods"][0]["power_blocks"][0]["busways"][0].__setitem__("length_m", -5),
            "halls[0].pods[0].power_blocks[0].busways[0].length_m",
        ),
        (lambda d: d["site"].__setitem__("grid_limit_mw", 0), "site.grid_limit_mw"),
        (
            lambda d: d["halls"][0]["facility_water"].__setitem__("supply_c", 75),
            "halls[0].facility_water.supply_c",
        ),
        (
            lambda d: d["halls"][0]["facility_water"].__setitem__("supply_c", float("nan")),
            "halls[0].facility_water.supply_c",
        ),
    ],
)
def test_impossible_values(tmp_path, edit, path):
    d = base()
    edit(d)
    assert any(p.path == path for p in problems_of(tmp_path, d))


def test_supply_above_w_class(tmp_path):
    d = base()
    d["halls"][0]["facility_water"]["supply_c"] = 50
    (p,) = problems_of(tmp_path, d)
    assert p.path == "halls[0].facility_water" and "W45 class limit of 45 C" in p.message


def test_dangling_references(tmp_path):
    d = base()
    row0(d)["cooling_loop"] = "tcs-9"
    d["halls"][0]["pods"][0]["rows"][1]["busway"] = "bw-z"
    ps = {p.path: p.message for p in problems_of(tmp_path, d)}
    assert ps["halls[0].pods[0].rows[0].cooling_loop"] == "no cooling loop 'tcs-9' in this pod (known: tcs-1)"
    assert ps["halls[0].pods[0].rows[1].busway"].startswith("no busway 'bw-z' in this pod")


def test_unknown_catalog_references(tmp_path):
    d = base()
    d["halls"][0]["pods"][0]["cooling_loops"][0]["cdu"] = "cdu-9000"
    d["network"]["scale_out"]["switch"] = "sn9999"
    ps = {p.path for p in problems_of(tmp_path, d)}
    assert {"halls[0].pods[0].cooling_loops[0].cdu", "network.scale_out.switch"} <= ps


def test_duplicate_names(tmp_path):
    d = base()
    d["halls"][0]["pods"][0]["rows"][1]["name"] = "row-a"
    d["workload"]["tiers"].append(dict(d["workload"]["tiers"][0]))
    ps = {p.path: p.message for p in problems_of(tmp_path, d)}
    assert ps["halls[0].pods[0].rows[1].name"] == "duplicate row name 'row-a' (also at index 0)"
    assert "duplicate tier name" in ps["workload.tiers[1].name"]


def test_architecture_mismatch_kyber_on_ac(tmp_path):
    d = base()
    row0(d)["rack_type"] = "ru-nvl576"
    row0(d)["racks"] = 1
    ps = problems_of(tmp_path, d)
    assert any("takes dc800 power, not the site's 'ac'" in p.message for p in ps)


def test_dc_source_on_ac_site(tmp_path):
    d = base()
    d["halls"][0]["pods"][0]["power_blocks"][0]["source"] = "mv-rect-3p5mw"
    ps = problems_of(tmp_path, d)
    assert any(
        p.path == "halls[0].pods[0].power_blocks[0].source" and "AC architecture" in p.message for p in ps
    )


def test_overloaded_cdu_warning_and_never_works_error(tmp_path):
    d = base()
    row0(d)["racks"] = 10  # 18 racks x 227 kW = 4.09 MW > 4 MW firm (3 x 2 MW, N+1): a warning
    d["halls"][0]["pods"][0]["power_blocks"][0]["busways"][0]["length_m"] = 25
    m = load_model(write(tmp_path, d))
    assert any(
        w.path == "halls[0].pods[0].cooling_loops[0]" and "firm capacity 4.00 MW" in w.message
        for w in m.warnings
    )
    d["halls"][0]["pods"][0]["cooling_loops"][0]["units"] = 1
    d["halls"][0]["pods"][0]["cooling_loops"][0]["redundancy"] = "N"
    row0(d)["racks"] = 12  # floor heat of 20 racks (20 x 108.9 kW = 2.18 MW) > 2 MW installed: never works
    ps = problems_of(tmp_path, d)
    assert any(p.path == "halls[0].pods[0].cooling_loops[0]" and "can never work" in p.message for p in ps)


def test_overloaded_busway_error(tmp_path):
    d = base()
    # 70 racks on bw-a: floor 70 x 108.9 kW = 7.6 MW > 2 feeds x 3.59 MW (415 V x 5,000 A x sqrt 3)
    row0(d)["racks"] = 70
    ps = problems_of(tmp_path, d)
    assert any(
        "busway 'bw-a' (2 feed(s) of 3.59 MW)" in p.message and "can never work" in p.message for p in ps
    )
    row0(d)["racks"] = 20  # Max-P 4.54 MW > one feed: a warning, not an error
    d["site"]["grid_limit_mw"] = 10
    d["halls"][0]["pods"][0]["cooling_loops"][0]["units"] = 4
    m = load_model(write(tmp_path, d))
    assert any("busway 'bw-a'" in w.message and "firm capacity 3.59 MW" in w.message for w in m.warnings)


def test_repeat_needs_pitch_and_expansion_limit(tmp_path):
    d = base()
    d["halls"][0]["pods"][0]["repeat"] = 3
    assert any("non-zero pitch_m" in p.message for p in problems_of(tmp_path, d))
    d["halls"][0]["pods"][0]["pitch_m"] = [0, 10]
    d["halls"][0]["repeat"] = 10000
    d["halls"][0]["pitch_m"] = [50, 0]
    d["halls"][0]["pods"][0]["repeat"] = 10000
    assert any("expands to" in p.message for p in problems_of(tmp_path, d))


def test_many_problems_reported_together(tmp_path):
    d = base()
    row0(d)["rack_type"] = "nope"
    d["halls"][0]["pods"][0]["rows"][1]["cooling_loop"] = "nope"
    d["network"]["scale_out"]["switch"] = "nope"
    assert len(problems_of(tmp_path, d)) == 3


@pytest.mark.parametrize(
    "red, units, spare",
    [("N", 3, 0), ("N+1", 3, 1), ("N+2", 5, 2), ("2N", 4, 2), ("5-to-make-4", 5, 1), ("5-to-make-4", 10, 2)],
)
def test_spare_units(red, units, spare):
    assert spare_units(red, units) == spare


@pytest.mark.parametrize(
    "red, units", [("2N", 3), ("N+1", 1), ("5-to-make-4", 4), ("3N", 3), ("4-to-make-5", 4)]
)
def test_bad_redundancy(red, units):
    with pytest.raises(ValueError):
        spare_units(red, units)


def test_optics_kind_must_match_the_switch(tmp_path):
    d = base()
    d["network"]["optics"] = "cpo"  # pod_small's SN5600 takes pluggable modules
    (p,) = problems_of(tmp_path, d)
    assert (
        p.path == "network.optics"
        and "takes pluggable optics" in p.message
        and "spectrum-x-cpo-512" in p.message
    )
