"""Golden figures: every command of docs/worked-example.md (and ``twin maxq --policy all`` on the 100 MW hall)
reproduces the KPIs recorded before the run-API refactor (``tests/golden/commands.json``, written by
``tests/golden/record.py`` at commit 15460d2) to 1e-9 relative.

Deliberate changes, each explained here and nowhere hidden:

* Names: one name per quantity across solvers (the result schema). Electrical KPIs ``grid_power_mw`` ->
  ``facility_power_mw``, ``loss_mw`` -> ``electrical_loss_mw``, ``loss_pct`` -> ``electrical_loss_pct``,
  ``mech_power_mw`` -> ``cooling_power_mw``, ``extra_it_power_mw`` -> ``network_power_mw``, ``n_violations`` ->
  ``electrical_violations``, ``converged`` / ``iterations`` -> ``electrical_converged`` / ``electrical_iterations``;
  N-1 KPIs carry an ``n1_`` prefix; the compare table's rows follow the KPI names.
* PUE follows The Green Grid's definition (IT energy at the IT equipment input, so the racks' power-shelf and
  DC-DC losses are IT energy): the old ``pue`` (facility / power at the IT components) is reported as ``tue``
  and compared under that name.
* ``warnings`` in the JSON of a run lists the layout's warnings too (before, only stderr showed them).
* ``twin electrical`` solves the operating point with the coupled steady state (the same as ``twin solve``)
  instead of its own one-way thermal -> electrical pass: the in-hall losses now heat the hall air, and the
  facility power of ``twin electrical`` equals that of ``twin solve`` at the same point (it differed by 0.7 MW
  on the 100 MW hall before). Its power-flow figures therefore move by a fraction of a percent; the test checks
  them to 1 % and checks the agreement with ``twin solve`` exactly. The N-1 case counts are unchanged.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "commands.json").read_text())
RTOL = 1e-9

RENAMED = {
    "grid_power_mw": "facility_power_mw",
    "loss_mw": "electrical_loss_mw",
    "loss_pct": "electrical_loss_pct",
    "mech_power_mw": "cooling_power_mw",
    "extra_it_power_mw": "network_power_mw",
    "n_violations": "electrical_violations",
    "converged": "electrical_converged",
    "iterations": "electrical_iterations",
    "balance_error_w": "electrical_balance_error_w",
}
# information that moved out of the --json object into the result tables (--out), or was a note on the old
# one-way coupling: not compared
DROPPED = {"mech_power_source", "extra_it_power_source", "layout", "it_load", "failures"}

runner = CliRunner()


def run_json(command: str) -> tuple[int, dict | None]:
    args = command.split()[1:] + ["--json"]
    r = runner.invoke(app, args, catch_exceptions=False)
    return r.exit_code, (json.loads(r.stdout) if r.stdout.strip() else None)


def compare(old, new, path: str, rtol: float, problems: list[str]) -> None:
    """Every number and string of ``old`` is found in ``new`` at the same place (``new`` may hold more)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            problems.append(f"{path}: expected an object, got {new!r}")
            return
        for k, v in old.items():
            if k not in new:
                problems.append(f"{path}.{k}: missing")
                continue
            if k == "warnings":  # now also lists the layout's warnings (they went to stderr before)
                if not set(v) <= set(new[k]):
                    problems.append(f"{path}.{k}: {sorted(set(v) - set(new[k]))} missing")
                continue
            compare(v, new[k], f"{path}.{k}", rtol, problems)
    elif isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            problems.append(f"{path}: expected a list of {len(old)}, got {new!r}"[:300])
            return
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            compare(a, b, f"{path}[{i}]", rtol, problems)
    elif isinstance(old, float) and not isinstance(old, bool):
        if not isinstance(new, (int, float)) or not math.isclose(old, new, rel_tol=rtol, abs_tol=1e-12):
            problems.append(f"{path}: {old!r} -> {new!r}")
    elif old != new:
        problems.append(f"{path}: {old!r} -> {new!r}")


def _pue_is_now_tue(o):
    """The old ``pue`` (facility / power at the IT components) is today's ``tue``; ``pue`` now follows The Green
    Grid (facility / IT equipment input)."""
    if isinstance(o, dict):
        return {("tue" if k == "pue" else k): _pue_is_now_tue(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_pue_is_now_tue(v) for v in o]
    return o


def check(name: str, new: dict, rtol: float = RTOL, old: dict | None = None) -> None:
    problems: list[str] = []
    compare(_pue_is_now_tue(GOLDEN[name]["json"] if old is None else old), new, name, rtol, problems)
    assert not problems, "\n".join(problems[:30])


def _electrical_old(name: str) -> dict:
    """The old electrical JSON in the new flat shape (renamed keys; N-1 KPIs with the n1_ prefix)."""
    g = GOLDEN[name]["json"]
    flat = {RENAMED.get(k, k): v for k, v in g["kpis"].items() if k not in DROPPED}
    for k, v in g.get("n_minus_1", {}).items():
        if k not in DROPPED:
            flat[f"n1_{k}"] = v
    if "compare" in g:
        table = {
            RENAMED.get(m, m): row
            for m, row in g["compare"]["table"].items()
            if m not in ("converged",)  # the table's "converged" row is a flag, kept under its name
        }
        flat["compare"] = {"summary": g["compare"]["summary"], "table": table}
    return flat


SAME = [
    "info_campus",
    "solve_campus",
    "maxq_campus_infeasible",
    "maxq_size",
    "solve_hall_thermal_hot_cdu",
    "transient_hall_pump_trip",
    "network_hall_allreduce",
]


@pytest.mark.parametrize("name", SAME)
def test_command_reproduces_golden(name):
    code, new = run_json(GOLDEN[name]["command"])
    assert code == GOLDEN[name]["exit_code"]
    check(name, new)


@pytest.mark.parametrize("name", ["maxq_campus_all", "maxq_hall_all"])
def test_policies_reproduce_golden(name):
    code, new = run_json(GOLDEN[name]["command"])
    assert code == GOLDEN[name]["exit_code"]
    check(name, new)


def test_electrical_n1_moves_to_the_coupled_point():
    """Deliberate change (module docstring): same N-1 counts, power flow within 1 %, and the facility power is
    exactly the coupled ``twin solve`` figure at the same point."""
    code, new = run_json(GOLDEN["electrical_hall_n1"]["command"])
    assert code == 0
    old = _electrical_old("electrical_hall_n1")
    for k in (
        "n1_cases",
        "n1_solves",
        "n1_failing_cases",
        "n1_base_violations",
        "architecture",
        "grid_limit_mw",
    ):
        assert new[k] == old[k], k
    # cooling now includes the air-side units removing the in-hall losses and fabric heat (2.66 -> 3.36 MW)
    moved = ("cooling_power_mw", "electrical_balance_error_w")
    numbers = {
        k: v for k, v in old.items() if isinstance(v, float) and not k.startswith("n1_") and k not in moved
    }
    check("electrical_hall_n1", {k: new[k] for k in numbers}, rtol=0.01, old=numbers)
    assert abs(new["electrical_balance_error_w"]) < 1.0
    _, solve = run_json("twin solve layouts/hall_100mw_ac.yaml")
    assert new["cooling_power_mw"] == pytest.approx(solve["cooling_power_mw"], rel=1e-12)
    assert new["facility_power_mw"] == pytest.approx(solve["facility_power_mw"], rel=1e-12)
    assert new["electrical_loss_mw"] == pytest.approx(solve["electrical_loss_mw"], rel=1e-12)


def test_electrical_compare_reproduces_golden():
    """compare_ac_dc is its own solve (both architectures at the same rack load): unchanged to 1e-9."""
    code, new = run_json(GOLDEN["electrical_hall_compare"]["command"])
    assert code == 0
    old = _electrical_old("electrical_hall_compare")
    check("electrical_hall_compare", new["compare"], old=old["compare"])
