"""Typed exceptions: every message names the field, the value and what is accepted."""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError


class RooflensError(Exception):
    """Base class of every error rooflens raises on bad input."""


class InvalidInputError(RooflensError, ValueError):
    """A parameter of an analysis is out of range or of the wrong type."""

    def __reduce__(self) -> tuple[type, tuple[str, object, str]]:
        # Rebuilt from its parts (a worker process's refusal reaches its parent).
        return type(self), (self.field, self.value, self.accepted)

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


def did_you_mean(given: object, known: Iterable[str]) -> str:
    """' (did you mean batch?)': the known names nearest to `given` in spelling (difflib's,
    as the catalogs' hints), or nothing where none is near."""
    close = difflib.get_close_matches(str(given).strip().lower(), list(known), n=3, cutoff=0.6)
    if not close:
        return ""
    either = " or ".join(filter(None, (", ".join(close[:-1]), close[-1])))
    return f" (did you mean {either}?)"


def known_names(given: object, known: Iterable[str], what: str = "a known setting") -> str:
    """What an unknown name is refused with: `what`, the known names nearest to `given`
    (did_you_mean), then every known one, so that a typo reads its fix first ("a known
    setting (did you mean batch?): batch, ...")."""
    names = list(dict.fromkeys(known))
    return f"{what}{did_you_mean(given, names)}: {', '.join(names)}"


_BOUND = re.compile(r"(greater|less) than")
# pydantic's bound checks, by the error it raises: its context key and the words the other
# refusals use.
_BOUND_WORDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


# pydantic's type checks, by the error it raises: what the value should have been, in the
# words the other refusals use ("an integer", not "Input should be a valid integer, got a
# number with a fractional part"); a list's length by its context's limit.
# A section of fields where something else stood: a config.json's object, a profile's table.
MAPPING = "a mapping of fields (a JSON object or TOML table)"
_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "finite_number": "a finite number",
    "dict_type": MAPPING,
    "model_type": MAPPING,
    "model_attributes_type": MAPPING,
}
# A list's length in values, a text's in characters.
_LENGTH_WORDS = {
    "too_long": ("max_length", "at most", "value"),
    "too_short": ("min_length", "at least", "value"),
    "string_too_long": ("max_length", "text of at most", "character"),
    "string_too_short": ("min_length", "text of at least", "character"),
}


def type_words(error: Mapping[str, Any]) -> str | None:
    """What a value of the wrong type or length is refused with ("an integer", "at most 64
    values", "text of at most 40 characters"), else None."""
    kind = error.get("type", "")
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind == "literal_error":  # "'vllm', 'sglang' or 'trtllm'": one of vllm, sglang, trtllm
        expected = str((error.get("ctx") or {}).get("expected", "")).replace("'", "")
        choices = [c for part in expected.split(" or ") for c in part.split(", ") if c]
        if not choices:  # an error raised without its choices: pydantic's words stand
            return None
        return " or ".join(choices) if len(choices) == 2 else f"one of {', '.join(choices)}"
    key, words, unit = _LENGTH_WORDS.get(kind, ("", "", ""))
    limit = (error.get("ctx") or {}).get(key)
    if not isinstance(limit, int):
        return None
    return f"{words} {limit:,} {unit}{'' if limit == 1 else 's'}"


def bound_words(error: Mapping[str, Any]) -> str | None:
    """'at least 1' for a value past a field's bound (pydantic's error), else None."""
    key, words = _BOUND_WORDS.get(error.get("type", ""), ("", ""))
    limit = (error.get("ctx") or {}).get(key)
    return f"{words} {limit}" if limit is not None else None


def bound_accepted(error: Mapping[str, Any]) -> str:
    """What a value past a field's bound is refused with: 'an integer of at least 1' where
    the bound and the value given are integers, 'a positive number' for a bound of more than
    0, 'a number less than 1' otherwise."""
    key, words = _BOUND_WORDS.get(error.get("type", ""), ("", ""))
    limit = (error.get("ctx") or {}).get(key)
    whole = type(limit) is int and type(error.get("input")) is int
    kind = "integer" if whole else "number"
    if key == "gt" and limit == 0:
        return f"a positive {kind}"
    shown = f"{limit:,}" if type(limit) is int else f"{limit:g}"
    article = "an" if whole else "a"
    return f"{article} {kind} {'of ' if words.startswith('at ') else ''}{words} {shown}"


# A rule's message that starts by naming its field ("dense_layers=99 must be ...").
_NAMED = re.compile(r"(\w+)=")


def refused(
    model: type[BaseModel],
    exc: ValidationError,
    given: Mapping[str, Any],
    accepts: str | None = None,
) -> InvalidInputError:
    """A model's first validation error as the typed error the API raises: the field, the
    value as given, and what it accepts (`accepts`, else a validator's rule or pydantic's
    words, every branch of a union's; the known fields for an unknown keyword). A validator's
    own InvalidInputError is raised as it is."""
    errors = exc.errors()
    err = errors[0]
    raised = (err.get("ctx") or {}).get("error")
    if isinstance(raised, InvalidInputError):
        return raised
    said = _words(err)
    if not err["loc"]:
        # A rule across fields: the one given where there is one, else the one its rule
        # names first ("dense_layers=99 must be within num_layers"), else the description
        # by the fields given (not every value of a whole model).
        if len(given) == 1:
            return InvalidInputError(*next(iter(given.items())), said)
        named = _NAMED.match(said)
        if named and named.group(1) in given:
            return InvalidInputError(named.group(1), given[named.group(1)], said)
        return InvalidInputError(model.__name__, f"({', '.join(given)})", said)
    name = str(err["loc"][0])
    value = None if err["type"] == "missing" else given.get(name, err.get("input"))
    field = model.model_fields.get(name)
    nested = len(err["loc"]) > 1 and field is not None and _holds_model(field.annotation)
    if nested:  # inside a nested description: its own field, as given there (None: missing)
        name = ".".join(str(part) for part in err["loc"])
        value = None if err["type"] == "missing" else err.get("input")
    if err["type"] == "extra_forbidden":
        if nested:
            where = _model_at(field.annotation, err["loc"][1:-1])
            what = f"a known setting of {err['loc'][0]}"
            if where is None:
                return InvalidInputError(name, value, what)
            return InvalidInputError(
                name, value, known_names(err["loc"][-1], where.model_fields, what)
            )
        return InvalidInputError(name, value, known_names(name, model.model_fields))
    if len(err["loc"]) > 1 and not nested:
        # The branches of a union (w_scale: 'channel', 'tensor' or a block size) or the items
        # of a tuple, each refused apart: what any of them takes.
        said = " or ".join(dict.fromkeys(_words(e) for e in errors if e["loc"][:1] == (name,)))
    if err["type"] == "value_error" or accepts is None or nested:
        return InvalidInputError(name, value, said)
    return InvalidInputError(name, value, accepts)


def _words(err: Any) -> str:
    """pydantic's message as what is accepted: its bounds in the words the other refusals use
    ("an integer of at least 1", "a number more than 0"), a field it lacks as "a value"."""
    if err["type"] == "missing":
        return "a value"
    if bound_words(err) is not None:
        return bound_accepted(err)
    if type_words(err) is not None:
        return str(type_words(err))
    words = str(err["msg"]).removeprefix("Value error, ").removeprefix("Input should be ")
    # A rule that says "expected ..." itself: the refusal says "expected" once.
    words = words.removeprefix("expected ")
    return f"a value {words}" if _BOUND.match(words) else words


def _holds_model(annotation: Any) -> bool:
    """Whether a field's type is, or holds, a pydantic model (a tuple of (name, model) pairs
    too): its errors' later parts then lead to that model's fields, not a union's branches."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in get_args(annotation))


def _model_at(annotation: Any, path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model a nested error's path leads to from a field's type (through
    optionals, unions and tuples; list indices and pair positions skipped), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not path:
            return annotation
        head, rest = path[0], path[1:]
        inner = annotation.model_fields.get(str(head))
        return _model_at(inner.annotation, rest) if inner is not None else None
    if path and isinstance(path[0], int):
        path = path[1:]
    for arg in get_args(annotation):
        found = _model_at(arg, path)
        if found is not None:
            return found
    return None


def _kinds(annotation: Any) -> set[Any]:
    """The types a field's annotation allows (unions, optionals and Annotated unwrapped)."""
    args = get_args(annotation)
    if get_origin(annotation) is Literal:
        return {type(a) for a in args}
    if not args or get_origin(annotation) in (tuple, list, dict, set, frozenset):
        return {get_origin(annotation) or annotation}
    return set().union(*(_kinds(a) for a in args))


@cache
def _field_kinds(model: type[BaseModel], name: str) -> set[Any]:
    """`_kinds` of a model's field, found once per field."""
    return _kinds(model.model_fields[name].annotation)


def _strict(model: type[BaseModel], data: Mapping[str, Any]) -> None:
    """Refuse what pydantic's lax mode would take as another type: a boolean for a number
    (tp=True read as 1), text for a boolean (kv_groups='yes' read as true) and text for a
    number (Workload(requests='5') read as 5, where analyze(batch='2') is refused). Only
    descriptions built by hand: the command line and the web validate text on purpose."""
    for name, value in data.items():
        if not isinstance(value, bool | str) or name not in model.model_fields:
            continue
        kinds = _field_kinds(model, name)
        number = "a number" if float in kinds else "an integer"
        if isinstance(value, bool) and bool not in kinds and kinds & {int, float}:
            # A field that also takes words (w_scale's 'channel', 'tensor' or a block size).
            wanted = number if kinds <= {int, float, type(None)} else f"{number} or a word"
            raise InvalidInputError(name, value, f"{wanted}, not true or false")
        if isinstance(value, str) and bool in kinds and str not in kinds:
            raise InvalidInputError(name, value, "true or false")
        if isinstance(value, str) and kinds & {int, float} and str not in kinds and _numeral(value):
            # Other text is refused by the declaration, which names its range.
            raise InvalidInputError(name, value, f"{number}, not text")


def _numeral(text: str) -> bool:
    """Whether pydantic's lax mode would read `text` as a number ('5', ' 2.5 ', '1e3')."""
    try:
        float(text)
    except ValueError:
        return False
    return True


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
            _strict(cls, data)
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise cls.refusal(exc, data) from None

        # Read by pydantic as its own __init__: nested and model_validate validation do not
        # call this one (a custom __init__ would be called there, and its error reworded as
        # pydantic's), so the web's request bodies keep pydantic's errors.
        __init__.__pydantic_base_init__ = True

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # help() and editors show the keywords alone: positional values are refused anyway.
        signature = inspect.signature(cls)
        kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_POSITIONAL]
        cls.__signature__ = signature.replace(parameters=kept)

    @classmethod
    def refusal(cls, exc: ValidationError, given: Mapping[str, Any]) -> InvalidInputError:
        """The typed error of a refused construction (`refused`, in pydantic's words)."""
        return refused(cls, exc, given)
