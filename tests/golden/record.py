"""Records the golden KPIs: every command of docs/worked-example.md (and ``twin maxq --policy all`` on the 100 MW
hall) run with ``--json``. Run once before a refactor; ``tests/test_golden.py`` reproduces each figure to 1e-9.

    python tests/golden/record.py            # writes tests/golden/commands.json
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HALL = "layouts/hall_100mw_ac.yaml"
CAMPUS = "layouts/campus_1gw.yaml"

# (name, command line without --json); the name keys the golden file
COMMANDS = [
    ("info_campus", f"twin info {CAMPUS}"),
    ("solve_campus", f"twin solve {CAMPUS}"),
    ("maxq_campus_all", f"twin maxq {CAMPUS} --budget-mw 1000 --policy all"),
    ("maxq_campus_infeasible", f"twin maxq {CAMPUS} --budget-mw 100"),
    ("maxq_size", "twin maxq --size --site-mw 1000 --rack-type vr-nvl72"),
    ("electrical_hall_n1", f"twin electrical {HALL} --n-1"),
    ("electrical_hall_compare", f"twin electrical {HALL} --compare"),
    (
        "solve_hall_thermal_hot_cdu",
        f"twin solve {HALL} --thermal-only --ambient-c 42 --fail hall-1/pod-1/tcs-a/cdu-1",
    ),
    ("transient_hall_pump_trip", f"twin transient {HALL} --scenario pump-trip"),
    ("network_hall_allreduce", f"twin network {HALL} --traffic allreduce"),
    ("maxq_hall_all", f"twin maxq {HALL} --budget-mw 100 --policy all"),
]


def run_json(cmd: str) -> dict:
    p = subprocess.run(
        shlex.split(cmd) + ["--json"], capture_output=True, text=True, cwd=ROOT, env=os.environ
    )
    return {"exit_code": p.returncode, "json": json.loads(p.stdout) if p.stdout.strip() else None}


if __name__ == "__main__":
    golden = {name: {"command": cmd, **run_json(cmd)} for name, cmd in COMMANDS}
    (Path(__file__).parent / "commands.json").write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
