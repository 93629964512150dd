"""Floor 3 (beside inference): what leaving at each exit costs, measured from the model's own forward."""

from __future__ import annotations

from rdibench.flops.costs import UNITS, Convention, ExitCosts, costs_of, exit_costs, expected_mflops
from rdibench.flops.trace import LayerCall, Trace, trace

__all__ = [
    "UNITS",
    "Convention",
    "ExitCosts",
    "LayerCall",
    "Trace",
    "costs_of",
    "exit_costs",
    "expected_mflops",
    "trace",
]
