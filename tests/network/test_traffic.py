"""Traffic generators: ring all-reduce, all-to-all, disaggregated KV streaming, CSV matrix."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import InputError
from twin.network.traffic import (
    all_to_all,
    disaggregated,
    kv_bytes_per_token,
    make_traffic,
    read_traffic_csv,
    ring_allreduce,
)


def test_ring(pod_model):
    tr = ring_allreduce(pod_model, load=0.5)
    R = pod_model.n_racks
    assert len(tr) == R
    assert np.array_equal(np.sort(tr["dst"]), np.arange(R))  # every rack receives once
    assert np.array_equal(tr["dst"], (tr["src"] + 1) % R)
    assert np.allclose(tr["demand_gbps"], 0.5 * 72 * 1600.0)


def test_all_to_all(pod_model):
    tr = all_to_all(pod_model, group_racks=5)  # 16 racks: groups of 5, 5, 5, 1
    assert len(tr) == 3 * 5 * 4
    sent = np.bincount(tr["src"], weights=tr["demand_gbps"], minlength=16)
    assert np.allclose(sent[:15], 72 * 1600.0) and sent[15] == 0
    assert np.all(tr["src"] // 5 == tr["dst"] // 5) and np.all(tr["src"] != tr["dst"])


def test_disaggregated_kv_rate_by_hand(pod_model):
    assert kv_bytes_per_token() == 2 * 80 * 8 * 128 * 1.0  # Llama 3.1 70B, FP8 KV
    tr = disaggregated(pod_model, prefill_fraction=0.25, isl_osl_ratio=8.0)
    # 16 racks: 4 prefill, 12 decode; decode rack: 72 GPUs x 1,800 tok/s x 8 x 163,840 B x 8 bit
    assert len(tr) == 12 and set(tr["src"]) == {0, 1, 2, 3} and set(tr["dst"]) == set(range(4, 16))
    assert np.allclose(tr["demand_gbps"], 72 * 1800.0 * 8.0 * 163840.0 * 8 / 1e9)
    # the KV stream follows tokens/s
    tr2 = disaggregated(pod_model, tokens_per_s_per_gpu=900.0)
    assert np.allclose(tr2["demand_gbps"], tr["demand_gbps"] / 2)


def test_csv(pod_model, tmp_path):
    names = pod_model.rack_names()
    f = tmp_path / "t.csv"
    f.write_text(f"src,dst,gbps\n{names[0]},{names[5]},100\n3,4,50.5\n")
    tr = read_traffic_csv(pod_model, f)
    assert list(tr["src"]) == [0, 3] and list(tr["dst"]) == [5, 4]
    assert list(tr["demand_gbps"]) == [100.0, 50.5]
    assert len(make_traffic(pod_model, str(f))) == 2


@pytest.mark.parametrize(
    "text",
    [
        "a,b,c\n1,2,3\n",
        "src,dst,gbps\nnope,1,3\n",
        "src,dst,gbps\n1,2,-3\n",
        "src,dst,gbps\n1,99,3\n",
        "src,dst,gbps\n",
    ],
)
def test_csv_errors(pod_model, tmp_path, text):
    f = tmp_path / "t.csv"
    f.write_text(text)
    with pytest.raises(InputError):
        read_traffic_csv(pod_model, f)


def test_bad_names(pod_model):
    with pytest.raises(InputError):
        make_traffic(pod_model, "broadcast")
    with pytest.raises(InputError):
        ring_allreduce(pod_model, load=0)


def test_bad_options(pod_model):
    with pytest.raises(InputError, match="takes"):
        make_traffic(pod_model, "allreduce", group_racks=4)
