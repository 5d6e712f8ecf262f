"""Rack-to-rack traffic patterns (demand in Gb/s) for the scale-out fabric.

Traffic is aggregated to rack level: one flow per (source rack, destination rack) whose demand is the sum of
its GPUs' demands. Traffic inside a rack stays on the NVLink scale-up domain and is not a scale-out flow.
Every generator returns a DataFrame ``src, dst, demand_gbps`` (rack indices).

* ``ring_allreduce``: data-parallel ring all-reduce (Patarasuk & Yuan, JPDC 2009): in the bandwidth-bound
  phase every rank sends to its ring successor at its full link rate; NCCL runs one ring per rail, so rack i
  sends ``load * NIC bandwidth`` to rack i+1 (ring order = rack order, i.e. physical neighbours first).
* ``all_to_all``: expert-parallel all-to-all within groups of ``group_racks`` consecutive racks; each rack
  spreads ``load * NIC bandwidth`` evenly over the other g-1 racks of its group.
* ``disaggregated``: prefill racks stream the KV cache to decode racks (Zhong et al., DistServe, OSDI 2024).
  Each request's prompt KV is moved once, so the stream follows the decode rate:
  ``kv_gbps = tokens_per_s * (isl / osl) * kv_bytes_per_token * 8 / 1e9`` where tokens_per_s is the decode
  racks' output token rate (GPUs x catalog tokens/s), isl/osl the prompt / output length ratio and
  ``kv_bytes_per_token = 2 * layers * kv_heads * head_dim * bytes_per_value`` (keys and values of every layer).
* ``read_traffic_csv``: user matrix with columns ``src, dst, gbps`` (rack names ``hall/pod/row/NN`` or indices).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.errors import InputError

if TYPE_CHECKING:
    from twin.model import FacilityModel


MAX_CSV_FLOWS = (
    20_000  # ~80 kB of routing per flow on a rail-optimised fabric (pod_small): ~1.6 GB at the limit
)
MAX_CSV_BYTES = 10 * 2**20


def _check_fields(p: Path) -> None:
    """Every line has as many fields as the header (pandas would shift a longer row into an index)."""
    import csv

    try:
        with p.open(newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if header is None:
                raise InputError(f"{p}: empty file (need columns src, dst, gbps)")
            for k, row in enumerate(rows, start=2):
                if row and len(row) != len(header):
                    raise InputError(f"{p}:{k}: {len(row)} fields, the header has {len(header)}")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{p}: cannot read CSV ({exc})") from None


def _nic_gbps(model: FacilityModel) -> np.ndarray:
    rt = model.rack_types
    t = model.racks["rack_type"].to_numpy()
    return (rt["nic_ports"].to_numpy() * rt["nic_gbps"].to_numpy())[t]


def _check_load(load: float) -> None:
    if not (0 < load <= 1):
        raise InputError(f"traffic load must be in (0, 1], got {load}")


def _frame(src, dst, demand) -> pd.DataFrame:
    return pd.DataFrame(
        dict(
            src=np.asarray(src, np.int64),
            dst=np.asarray(dst, np.int64),
            demand_gbps=np.asarray(demand, float),
        )
    )


def ring_allreduce(model: FacilityModel, *, load: float = 1.0, scope: str = "site") -> pd.DataFrame:
    """One ring per scope (site, hall or pod) over its racks in order; rack i sends load x NIC rate to i+1.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (racks in hall and pod order, NIC ports and rate of every rack type).
    load : float, default 1.0
        Fraction (0, 1] of each rack's scale-out NIC bandwidth that it sends.
    scope : {"site", "hall", "pod"}, default "site"
        One ring over the whole site, or one per hall or pod.

    Returns
    -------
    pandas.DataFrame
        ``src``, ``dst`` (rack indices), ``demand_gbps`` (Gb/s): one flow per rack of a ring of >= 2 racks.
    """
    _check_load(load)
    if scope not in ("site", "hall", "pod"):
        raise InputError(f"ring scope must be site, hall or pod, got {scope!r}")
    R = model.n_racks
    gbps = _nic_gbps(model)
    idx = np.arange(R)
    if scope == "site":
        grp = np.zeros(R, np.int64)
    else:
        grp = model.racks[scope].to_numpy().astype(np.int64)
    first = np.searchsorted(grp, grp)  # racks are ordered by hall and pod
    size = np.bincount(grp)[grp]
    nxt = first + (idx - first + 1) % size
    keep = nxt != idx
    return _frame(idx[keep], nxt[keep], load * gbps[keep])


def all_to_all(model: FacilityModel, *, group_racks: int = 8, load: float = 1.0) -> pd.DataFrame:
    """Expert-parallel all-to-all inside consecutive groups of `group_racks` racks (last group may be smaller).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    group_racks : int, default 8
        Racks per all-to-all group (>= 2), consecutive in rack order.
    load : float, default 1.0
        Fraction (0, 1] of each rack's scale-out NIC bandwidth, spread evenly over the other racks of its
        group.

    Returns
    -------
    pandas.DataFrame
        ``src``, ``dst`` (rack indices), ``demand_gbps`` (Gb/s): one flow per ordered pair in a group.
    """
    _check_load(load)
    if group_racks < 2:
        raise InputError("an all-to-all group needs at least 2 racks")
    R = model.n_racks
    gbps = _nic_gbps(model)
    grp = np.arange(R) // group_racks
    first = grp * group_racks
    size = np.minimum(group_racks, R - first)
    k = np.arange(group_racks - 1)
    src = np.repeat(np.arange(R), group_racks - 1)
    off = np.tile(k + 1, R)
    s_size = np.repeat(size, group_racks - 1)
    keep = off < s_size
    src, off, s_size = src[keep], off[keep], s_size[keep]
    s_first = first[src]
    dst = s_first + (src - s_first + off) % s_size
    return _frame(src, dst, load * gbps[src] / (s_size - 1))


def kv_bytes_per_token(
    layers: int = 80, kv_heads: int = 8, head_dim: int = 128, bytes_per_value: float = 1.0
):
    """KV-cache bytes per token: 2 (K and V) x layers x kv_heads x head_dim x bytes per value.

    Defaults: Llama 3.1 70B (80 layers, 8 KV heads of dim 128 with grouped-query attention; Meta model card /
    config.json) with an FP8 cache: 163,840 B per token.

    Parameters
    ----------
    layers, kv_heads, head_dim : int
        Transformer layers, key/value heads per layer and head dimension.
    bytes_per_value : float, default 1.0
        Bytes per cached value (1 for FP8, 2 for FP16/BF16).

    Returns
    -------
    float
        Bytes of KV cache per token, B.
    """
    return 2.0 * layers * kv_heads * head_dim * bytes_per_value


def disaggregated(
    model: FacilityModel,
    *,
    prefill_fraction: float = 0.25,
    isl_osl_ratio: float = 8.0,
    kv_bytes: float | None = None,
    tokens_per_s_per_gpu: float | None = None,
) -> pd.DataFrame:
    """Prefill racks stream KV cache to decode racks in the same pod at the rate the decode racks consume it.

    In every pod the first ceil(prefill_fraction x racks) racks are prefill, the rest decode; decode rack j
    receives from prefill rack j mod n_prefill. Decode tokens/s = GPUs x catalog tokens_per_s['inference']
    unless tokens_per_s_per_gpu is given (module docstring: the KV stream formula).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (racks in pod order; GPU type and count of every rack).
    prefill_fraction : float, default 0.25
        Fraction (0, 1) of each pod's racks that run prefill (rounded up).
    isl_osl_ratio : float, default 8.0
        Prompt (input) over output tokens per request, > 0 (8k/1k by default).
    kv_bytes : float or None, default None
        KV-cache bytes per token, B; None: :func:`kv_bytes_per_token` defaults (Llama 3.1 70B, FP8).
    tokens_per_s_per_gpu : float or None, default None
        Decode output tokens/s of one GPU; None: the catalog's ``tokens_per_s['inference']`` of its GPU.

    Returns
    -------
    pandas.DataFrame
        ``src`` (prefill rack), ``dst`` (decode rack), ``demand_gbps`` (KV stream, Gb/s): one flow per decode
        rack of a pod with >= 2 racks.
    """
    if not (0 < prefill_fraction < 1):
        raise InputError("prefill_fraction must be in (0, 1)")
    if isl_osl_ratio <= 0:
        raise InputError("isl_osl_ratio must be > 0")
    kvb = kv_bytes_per_token() if kv_bytes is None else float(kv_bytes)
    if kvb <= 0:
        raise InputError("kv_bytes must be > 0")
    r = model.racks
    if tokens_per_s_per_gpu is None:
        gt = model.gpu_types
        tps = np.array([model.catalog.gpu(n).tokens_per_s.get("inference", 0.0) for n in gt["name"]])
        tok = tps[r["gpu_type"].to_numpy()] * r["gpus"].to_numpy()
    else:
        if tokens_per_s_per_gpu <= 0:
            raise InputError("tokens_per_s_per_gpu must be > 0")
        tok = tokens_per_s_per_gpu * r["gpus"].to_numpy()
    pod = r["pod"].to_numpy().astype(np.int64)
    R = len(pod)
    first = np.searchsorted(pod, pod)
    size = np.bincount(pod)[pod]
    n_pre = np.ceil(prefill_fraction * size).astype(np.int64)
    k = np.arange(R) - first
    decode = (k >= n_pre) & (size >= 2)
    dst = np.flatnonzero(decode)
    src = first[dst] + (k[dst] - n_pre[dst]) % n_pre[dst]
    gbps = tok[dst] * isl_osl_ratio * kvb * 8.0 / 1e9
    return _frame(src, dst, gbps)


def read_traffic_csv(model: FacilityModel, path: str | Path) -> pd.DataFrame:
    """A user traffic matrix: CSV with columns src, dst, gbps (rack names or 0-based rack indices).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (rack names ``hall/pod/row/NN``).
    path : str or pathlib.Path
        CSV file with columns ``src``, ``dst`` (rack names or indices) and ``gbps`` (demand, Gb/s, >= 0).

    Returns
    -------
    pandas.DataFrame
        ``src``, ``dst`` (rack indices), ``demand_gbps`` (Gb/s), one row per CSV line.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"traffic file not found: {p}")
    if p.stat().st_size > MAX_CSV_BYTES:
        raise InputError(
            f"{p}: {p.stat().st_size / 2**20:.1f} MB; a traffic CSV is limited to {MAX_CSV_FLOWS:,} flows "
            f"({MAX_CSV_BYTES / 2**20:.0f} MB): aggregate the flows between the same pair of racks into one row"
        )
    _check_fields(p)
    try:
        df = pd.read_csv(
            p, dtype=str, skipinitialspace=True, keep_default_na=False, na_values=[""], index_col=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        # a ragged row (more fields than the header), an empty file, bytes that are not text
        raise InputError(f"{p}: cannot read CSV ({str(exc).strip().splitlines()[0]})") from None
    missing = {"src", "dst", "gbps"} - set(df.columns)
    if missing:
        raise InputError(f"{p}: missing column(s) {', '.join(sorted(missing))} (need src, dst, gbps)")
    if df.empty:
        raise InputError(f"{p}: no flows")
    if len(df) > MAX_CSV_FLOWS:
        raise InputError(
            f"{p}: {len(df):,} flows; a traffic CSV is limited to {MAX_CSV_FLOWS:,} (routing memory grows with flows "
            "x ECMP paths): aggregate the flows between the same pair of racks into one row"
        )
    index = pd.Series(np.arange(model.n_racks), index=model.rack_names())
    R = model.n_racks

    def rack(col: str) -> np.ndarray:
        """Rack index per CSV line from a rack name or a 0-based index (vectorised); blank cells are errors."""
        v = df[col].fillna("").str.strip()
        by_name = v.map(index)
        num = pd.to_numeric(v, errors="coerce")
        by_index = num.where((num >= 0) & (num < R) & (num == np.floor(num)))
        out = by_name.fillna(by_index)
        bad = out.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            what = "is blank" if v.iat[i] == "" else f"{v.iat[i]!r} is not a rack name or index (0..{R - 1})"
            raise InputError(f"{p}:{i + 2}: {col} {what}")
        return out.to_numpy(dtype=np.int64)

    src, dst = rack("src"), rack("dst")
    gbps = pd.to_numeric(df["gbps"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(gbps) | (gbps < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        got = df["gbps"].iloc[i]
        raise InputError(
            f"{p}:{i + 2}: gbps must be a number >= 0, got {'a blank cell' if pd.isna(got) else repr(got)}"
        )
    return _frame(src, dst, gbps)


def make_traffic(model: FacilityModel, traffic: str | pd.DataFrame = "allreduce", **kw) -> pd.DataFrame:
    """Traffic by name (allreduce, alltoall, disagg), a CSV path, or a ready src/dst/demand_gbps table.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    traffic : str or pandas.DataFrame, default "allreduce"
        ``allreduce`` (:func:`ring_allreduce`), ``alltoall`` (:func:`all_to_all`), ``disagg``
        (:func:`disaggregated`), a CSV path (:func:`read_traffic_csv`), or a table with columns ``src``,
        ``dst``, ``demand_gbps``.
    **kw
        Keyword arguments of the named generator.

    Returns
    -------
    pandas.DataFrame
        ``src``, ``dst`` (rack indices), ``demand_gbps`` (Gb/s).
    """
    if isinstance(traffic, pd.DataFrame):
        need = {"src", "dst", "demand_gbps"}
        if not need <= set(traffic.columns):
            raise InputError("a traffic table needs columns src, dst, demand_gbps")
        return traffic.reset_index(drop=True)
    name = str(traffic)
    allowed = {"allreduce": ring_allreduce, "alltoall": all_to_all, "disagg": disaggregated}
    if name in allowed:
        import inspect

        params = set(inspect.signature(allowed[name]).parameters) - {"model"}
        bad = sorted(set(kw) - params)
        if bad:
            raise InputError(f"{name} traffic takes {sorted(params)}, not {bad}")
    if name == "allreduce":
        return ring_allreduce(model, **kw)
    if name == "alltoall":
        return all_to_all(model, **kw)
    if name == "disagg":
        return disaggregated(model, **kw)
    if name.lower().endswith(".csv") or Path(name).is_file():
        if kw:
            raise InputError(f"traffic options {sorted(kw)} do not apply to a CSV traffic matrix")
        return read_traffic_csv(model, name)
    raise InputError(f"unknown traffic {name!r}: use allreduce, alltoall, disagg or a CSV file")
