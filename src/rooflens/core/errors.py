"""Typed exceptions: every message names the field, the value and what is accepted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError


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


_BOUND = re.compile(r"(greater|less) than")


def refused(
    model: type[BaseModel],
    exc: ValidationError,
    given: Mapping[str, Any],
    accepts: str | None = None,
) -> InvalidInputError:
    """A model's first validation error as the typed error the API raises: the field, the
    value as given, and what it accepts (`accepts`, else a validator's rule or pydantic's
    words; the known fields for an unknown keyword)."""
    err = exc.errors()[0]
    said = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return InvalidInputError(model.__name__, err.get("input"), said)
    name = str(err["loc"][0])
    value = given.get(name, err.get("input"))
    nested = len(err["loc"]) > 1
    if nested:  # inside a nested description: its own field, as given there
        name, value = ".".join(str(part) for part in err["loc"]), err.get("input")
    if err["type"] == "extra_forbidden":
        known = f"of {err['loc'][0]}" if nested else ", ".join(model.model_fields)
        return InvalidInputError(name, value, f"a known setting{' ' if nested else ': '}{known}")
    if err["type"] == "value_error" or accepts is None or nested:
        words = said.removeprefix("Input should be ")
        # pydantic's bounds ("greater than 0") as a value's.
        return InvalidInputError(name, value, f"a value {words}" if _BOUND.match(words) else words)
    return InvalidInputError(name, value, accepts)


class Declared(BaseModel):
    """A description users may build by hand (AnalysisOptions(...), SLO(...)): a bad value
    raises InvalidInputError naming it, as the rest of the API does, not pydantic's
    ValidationError. Only the constructor is wrapped: validation elsewhere (model_validate,
    nested models, the web's request bodies) keeps pydantic's errors, which their callers
    word themselves."""

    if not TYPE_CHECKING:  # type checkers keep the keywords pydantic declares from the fields

        def __init__(self, /, *args: Any, **data: Any) -> None:
            cls = type(self)
            if args:
                # A positional value had raised a TypeError naming BaseModel.__init__.
                shown = args[0] if len(args) == 1 else args
                names = ", ".join(cls.model_fields)
                raise InvalidInputError(cls.__name__, shown, f"keyword arguments: {names}")
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise cls.refusal(exc, data) from None

        # Read by pydantic as its own __init__: nested and model_validate validation do not
        # call this one (a custom __init__ would be called there, and its error reworded as
        # pydantic's), so the web's request bodies keep pydantic's errors.
        __init__.__pydantic_base_init__ = True

    @classmethod
    def refusal(cls, exc: ValidationError, given: Mapping[str, Any]) -> InvalidInputError:
        """The typed error of a refused construction (`refused`, in pydantic's words)."""
        return refused(cls, exc, given)
