"""Max-Q: GPU power caps that maximise tokens/s from a fixed grid connection (DSX Boost / Max-Q).

``core``: the array-level optimizer (dual decomposition / water-filling); ``optimize``: policies on a compiled
facility model with the coupled thermal-electrical solve; ``cooling``: the facility-water supply setpoints
co-optimised with the caps (and the energy mode); ``attribution``: tokens per joule step by step (AC -> 800 VDC ->
CPO -> Max-Q -> cooling -> shedding); ``sizing``: MaxLPS-style site sizing.
"""

from twin.maxq.core import CapProblem, CapSolution, LinearGroup, solve_caps

__all__ = ["CapProblem", "CapSolution", "LinearGroup", "solve_caps"]
