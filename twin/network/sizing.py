"""Closed-form sizing of leaf/spine and 3-tier fat-tree fabrics.

A leaf of radix k with oversubscription o (downlink : uplink bandwidth) has d = floor(k * o / (1 + o))
downlink ports and u = k - d uplinks. Non-blocking (o = 1) k-ary fat trees (Al-Fares et al., SIGCOMM 2008)
serve k^2/2 hosts with two tiers and k^3/4 with three; the functions below reduce to those at o = 1.
"""

from __future__ import annotations

import math


def leaf_ports(radix: int, oversubscription: float) -> tuple[int, int]:
    """(downlinks, uplinks) of a leaf switch."""
    down = int(math.floor(radix * oversubscription / (1.0 + oversubscription)))
    down = min(max(down, 1), radix - 1)
    return down, radix - down


def max_hosts(radix: int, tiers: int, oversubscription: float = 1.0) -> int:
    """Largest number of host ports a fabric of this radix and tier count can serve."""
    down, _ = leaf_ports(radix, oversubscription)
    if tiers == 2:
        return down * radix  # radix leaves, each with `down` hosts, one spine port per leaf uplink
    if tiers == 3:
        return down * radix * radix // 2
    raise ValueError("tiers must be 2 or 3")


def fabric_switch_counts(
    host_ports: int, radix: int, tiers: int, oversubscription: float = 1.0
) -> dict[str, int]:
    """Switches per tier for `host_ports` host-facing ports (leaf, spine and, for 3 tiers, core)."""
    if host_ports <= 0:
        return {"leaf": 0, "spine": 0, "core": 0}
    down, up = leaf_ports(radix, oversubscription)
    leaves = math.ceil(host_ports / down)
    uplinks = leaves * up
    if tiers == 2:
        return {"leaf": leaves, "spine": math.ceil(uplinks / radix), "core": 0}
    # 3 tiers: spines use half their ports down (to leaves) and half up (to cores)
    spines = math.ceil(uplinks / (radix // 2))
    cores = math.ceil(spines * (radix - radix // 2) / radix)
    return {"leaf": leaves, "spine": spines, "core": cores}
