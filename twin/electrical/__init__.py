"""Electrical solver: AC and 800 VDC distribution, losses, loading, N-1 contingencies, AC vs DC comparison.

Modules (pure functions, SI units in names): ``conductors`` (R(T), temperature, copper mass), ``losses``
(transformer P0 + Pk (S/Sn)^2, converter efficiency curves), ``powerflow`` (AC radial sweep, DC nodal
Newton), ``solve`` (``solve_electrical``), ``contingency`` (N-1), ``compare`` (AC vs 800 VDC).
"""

from twin.electrical.compare import compare_ac_dc
from twin.electrical.contingency import n_minus_1
from twin.electrical.results import STAGES, ElectricalResult
from twin.electrical.solve import solve_electrical

__all__ = ["STAGES", "ElectricalResult", "compare_ac_dc", "n_minus_1", "solve_electrical"]
