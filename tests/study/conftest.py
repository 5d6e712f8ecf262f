"""Shared fixtures of the study tests: small studies of layouts/pod_small.yaml and one Dask LocalCluster."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POD = ROOT / "layouts" / "pod_small.yaml"
CDU1 = "hall-1/pod-1/tcs-1/cdu-1"

# 2 ambient x 3 loads x 2 facility-water setpoints (a layout override) x 3 cases = 36 coupled scenarios, among
# them 6 with an unknown failed unit (status error) and 6 with a CDU out
POD_GRID = f"""\
name: pod_grid
description: a small study of every kind of parameter
base:
  layout: {POD}
analysis: coupled
parameters:
  grid:
    ambient_c: [20, 40]
    it_load: [0.6, 0.8, 1.0]
    halls[0].facility_water.supply_c: [40, 45]
  cases:
    - {{case: all}}
    - {{case: cdu-out, failures: [{CDU1}]}}
    - {{case: bad-unit, failures: [hall-1/pod-1/tcs-1/cdu-9]}}
outputs:
  tables:
    racks: summary
    halls: whole
batch_size: 2
"""


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(scope="session")
def dask_client():
    """One local cluster (2 processes, 1 thread each) for the in-process engine tests."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    client = Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="session")
def pod_grid(tmp_path_factory, dask_client):
    """(study, directory) of POD_GRID, run once on the shared cluster."""
    from twin.study import load_study, run_study

    d = tmp_path_factory.mktemp("pod_grid")
    study = load_study(write(d, POD_GRID))
    res = run_study(study, d / "out", client=dask_client)
    assert res["complete"], res
    return study, d / "out"
