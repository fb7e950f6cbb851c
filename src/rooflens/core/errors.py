"""Typed exceptions: every message names the field, the value and what is accepted."""

from __future__ import annotations


class RooflensError(Exception):
    """Base class of every error rooflens raises on bad input."""


class InvalidInputError(RooflensError, ValueError):
    """A parameter of an analysis is out of range or of the wrong type."""

    def __init__(self, field: str, value: object, accepted: str) -> None:
        self.field, self.value, self.accepted = field, value, accepted
        # None is a value left out (an option not given), which "=None" would misname.
        # numpy's scalars as the numbers they are (0.5, not np.float64(0.5)).
        shown = value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
        stated = f"{field} is missing" if value is None else f"{field}={shown!r} is invalid"
        super().__init__(f"{stated}: expected {accepted}")


class ModelConfigError(RooflensError, ValueError):
    """A model configuration is malformed, incomplete or of an unsupported type."""


class UnknownModelError(RooflensError, LookupError):
    """A model name matches no bundled model, local path or reachable hub entry."""


class ModelFetchError(RooflensError):
    """A model that is not bundled could not be fetched (offline, or the hub refused)."""


class HardwareSpecError(RooflensError, ValueError):
    """A device description is malformed or incomplete."""


class UnknownHardwareError(RooflensError, LookupError):
    """A device name matches no catalog entry."""
