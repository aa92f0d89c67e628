"""Factory simulator: whole factories of machines with known truth (``factoryhub simulate``).

See :mod:`analytics.simulate.degradation` for the failure models, :mod:`analytics.simulate.machines`
for the machine physics and :mod:`analytics.simulate.output` for the files written.
"""

from analytics.simulate.plans import SimulationConfig, plan_factory, plan_hub
from analytics.simulate.runner import SimulationResult, simulate_hub

__all__ = ["SimulationConfig", "SimulationResult", "plan_factory", "plan_hub", "simulate_hub"]
