"""Regenerates docs/worked-example.md by running each command on the reference layouts."""

import os
import subprocess

env = dict(os.environ, COLUMNS="110", NO_COLOR="1", TERM="dumb")


def run(cmd, head=None, tail=None):
    p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, env=env)
    txt = (p.stdout + p.stderr).rstrip().splitlines()
    if head:
        txt = txt[:head] + (["..."] if len(txt) > head else [])
    if tail:
        txt = (["..."] if len(txt) > tail else []) + txt[-tail:]
    return f"```\n$ {cmd}\n" + "\n".join(txt) + f"\n```\n(exit code {p.returncode})\n"


parts = []
A = parts.append
A("""# Worked example: from a layout to Max-Q caps

Every output below was produced by the commands shown, on the reference layouts in `layouts/`, and is regenerated
by `python docs/gen_worked_example.py` (figures change when the catalog does). Warnings about a Max-Q site's
blocks and dry coolers sized below Max-P are expected for `campus_1gw.yaml` (it is designed to run capped); the
layout's own warnings are filtered out of the outputs below (`twin validate layouts/campus_1gw.yaml` lists them).

## 1. What is in the 1 GW campus

""")
A(run("twin info layouts/campus_1gw.yaml 2>/dev/null", head=45))
A("""
`--json` gives the same as one object for scripts (`racks`, `gpus`, `nameplate_it_mw`, `cdus`, `by_hall`, ...).

## 2. Mistakes in a layout are named with their line

""")
A(
    run(
        "sed 's/rack_type: vr-nvl72, racks: 8, origin_m: \\[0, 3.6\\]/rack_type: kyber-x, racks: 8, origin_m: [0, 3.6]/; s/busway: bw-a}/busway: bw-z}/' layouts/pod_small.yaml > /tmp/bad.yaml && twin validate /tmp/bad.yaml"
    )
)
A("""
## 3. Coupled steady state at Max-P: the campus does not fit its grid connection

`twin solve` runs cooling, power distribution and the fabric to a fixed point at the GPU caps given (none: Max-P).

""")
A(run(r"twin solve layouts/campus_1gw.yaml 2>&1 | grep -v '^layouts/\|^warning: layouts/'"))
A("""
## 4. Max-Q: the caps that fit 1,000 MW with the most tokens/s

""")
A(
    run(
        r"twin maxq layouts/campus_1gw.yaml --budget-mw 1000 --policy all 2>&1 | grep -v '^layouts/\|^warning: layouts/'",
        head=60,
    )
)
A("""
A budget below what the site draws with every rack switched off (fabric, cooling, no-load losses) is infeasible,
and the answer gives both floors (every GPU at its minimum power, every rack off):

""")
A(
    run(
        r"twin maxq layouts/campus_1gw.yaml --budget-mw 100 2>&1 | grep -v '^layouts/\|^warning: layouts/'",
        tail=3,
    )
)
A("""
## 5. How many GPUs fit 1 GW: Max-P provisioning vs Max-Q

""")
A(run("twin maxq --size --site-mw 1000 --rack-type vr-nvl72"))
A("""
## 6. Power distribution: losses by stage, N-1, AC vs 800 VDC

""")
A(
    run(
        r"twin electrical layouts/hall_100mw_ac.yaml --n-1 2>&1 | grep -v '^layouts/\|^warning: layouts/'",
        head=60,
    )
)
A(
    run(
        r"twin electrical layouts/hall_100mw_ac.yaml --compare 2>&1 | grep -v '^layouts/\|^warning: layouts/'",
        tail=16,
    )
)
A("""
## 7. Cooling: a hot day, a failed CDU, and a pump trip

""")
A(
    run(
        r"twin solve layouts/hall_100mw_ac.yaml --thermal-only --ambient-c 42 --fail hall-1/pod-1/tcs-a/cdu-1 2>&1 | grep -v '^layouts/\|^warning: layouts/'"
    )
)
A(
    run(
        r"twin transient layouts/hall_100mw_ac.yaml --scenario pump-trip 2>&1 | grep -v '^layouts/\|^warning: layouts/'",
        head=40,
    )
)
A("""
## 8. The fabric: all-reduce traffic, a failed spine, CPO vs pluggable

""")
A(
    run(
        r"twin network layouts/hall_100mw_ac.yaml --traffic allreduce 2>&1 | grep -v '^layouts/\|^warning: layouts/'",
        head=45,
    )
)
open("docs/worked-example.md", "w").write("\n".join(parts))
