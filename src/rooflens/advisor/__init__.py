"""Hardware advice: the cheapest (or most frugal, or fastest) setup that meets an SLO."""

from rooflens.advisor.search import Advice, Target, advise, candidates, pareto_front, verify

__all__ = ["Advice", "Target", "advise", "candidates", "pareto_front", "verify"]
