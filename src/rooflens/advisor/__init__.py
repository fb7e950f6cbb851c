"""Hardware advice: the cheapest (or most frugal, or fastest) setup that meets an SLO."""

from __future__ import annotations

from typing import Any

__all__ = ["SLO", "Advice", "Target", "advise", "candidates", "pareto_front", "verify"]


def __getattr__(name: str) -> Any:
    # The search (pandas, the simulator) loads when first used: the command line declares
    # `advise`'s options from rooflens.advisor.choices without it.
    if name == "SLO":  # the objectives advise takes, beside its Target
        from rooflens.serving.config import SLO

        return SLO
    if name in __all__:
        from rooflens.advisor import search

        return getattr(search, name)
    raise AttributeError(f"module 'rooflens.advisor' has no attribute {name!r}")
