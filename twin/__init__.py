"""AI-factory digital twin: facility layouts, equipment catalog and the compiled facility model.

Data flows one way: layout YAML -> validated schema -> compiled arrays (:class:`twin.model.FacilityModel`)
-> solvers -> result tables.
"""

from twin.errors import LayoutError, Problem
from twin.model import FacilityModel, compile_layout, load_model

__all__ = ["FacilityModel", "LayoutError", "Problem", "compile_layout", "load_model"]
__version__ = "0.1.0"
