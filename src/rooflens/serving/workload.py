"""Request load for the serving simulator: arrivals and prompt/output lengths, or a trace.

Everything random is drawn from one seeded generator, so a workload is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rooflens.core.errors import Declared, InvalidInputError
from rooflens.serving import defaults
from rooflens.serving.defaults import CV, CV_MAX, CV_MIN, LENGTH_FORMS
from rooflens.settings import declared_number

# The latest arrival a run accepts (s): the clock still resolves 0.1 µs there.
LATEST_ARRIVAL = 1e9

# The longest request length taken, a trace's as a distribution's (far past any context).
MAX_LENGTH = 2**40

LengthKind = Literal["fixed", "uniform", "normal", "lognormal", "empirical"]
ArrivalKind = Literal["poisson", "gamma", "fixed"]


# The longest length a draw may take where no MAX caps it: 2**62, within int64.
DRAW_CEILING = float(2**62)


class LengthDistribution(Declared):
    """Token counts: drawn values are rounded and clipped to [1, `maximum`]. Its length is
    given (`a`, or empirical `values`): a prompt's or an output's default is a Workload's
    (serving/defaults.py), not a distribution's."""

    # Finite: an infinite length was drawn as -2**63 tokens and named a field never given.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    kind: LengthKind = "fixed"
    # fixed: a; uniform: a..b; normal: mean a, std b; lognormal: median a, sigma b; given for
    # every kind but empirical (_check). Lengths at most MAX_LENGTH, as a trace's.
    a: Annotated[float, Field(gt=0, le=MAX_LENGTH)] = 1.0
    b: Annotated[float, Field(le=MAX_LENGTH)] = 0.0
    values: tuple[Annotated[int, Field(gt=0, le=MAX_LENGTH)], ...] = ()
    maximum: Annotated[int, Field(gt=0, le=MAX_LENGTH)] | None = None

    @model_validator(mode="after")
    def _check(self) -> LengthDistribution:
        if self.kind != "empirical" and "a" not in self.model_fields_set:
            raise ValueError(f"{self.kind} needs its length (a)")
        if self.kind in ("fixed", "uniform") and not (self.a.is_integer() and self.b.is_integer()):
            # Token counts: fixed:0.4 drew 1-token prompts, uniform:2.5:3.2 drew 2, 3 and 4.
            raise ValueError(f"{self.kind} needs whole numbers of tokens")
        if self.kind == "uniform" and self.b < self.a:
            raise ValueError("uniform needs LOW <= HIGH")
        if self.kind in ("normal", "lognormal") and self.b < 0:
            raise ValueError(f"{self.kind} needs a spread >= 0")
        if self.maximum is not None and self.maximum < self.a:
            # Most draws would be the cap (normal:100:10:50 made every length 50).
            centre = "mean" if self.kind == "normal" else "median"
            raise ValueError(f"{self.kind} needs MAX >= its {centre}")
        if self.kind == "empirical" and not self.values:
            raise ValueError("empirical needs at least one value")
        return self

    @classmethod
    def parse(cls, field: str, text: str) -> LengthDistribution:
        """'512' or 'fixed:512', 'uniform:128:1024', 'normal:512:64', 'lognormal:400:0.8:4096' (an
        optional third number caps normal and lognormal draws), 'empirical:100,200,350'."""
        kind, _, rest = text.partition(":")
        if not rest and kind.isdigit():
            # A bare count is a fixed length, as `analyze --prompt-len` takes it.
            kind, rest = "fixed", kind
        # Validated as pydantic reports it (the constructor's typed error would lose the rule).
        try:
            if kind == "empirical":
                return cls.model_validate(
                    {"kind": kind, "values": tuple(int(v) for v in rest.split(","))}
                )
            numbers = [float(v) for v in rest.split(":")] if rest else []
            if kind == "fixed" and len(numbers) == 1:
                return cls.model_validate({"kind": kind, "a": numbers[0]})
            if kind in ("uniform", "normal", "lognormal") and len(numbers) == 2:
                return cls.model_validate({"kind": kind, "a": numbers[0], "b": numbers[1]})
            if kind in ("normal", "lognormal") and len(numbers) == 3:
                # A MAX of 3072.5 is refused, not cut to 3072 (a whole number of tokens).
                return cls.model_validate(
                    {"kind": kind, "a": numbers[0], "b": numbers[1], "maximum": numbers[2]}
                )
        except ValidationError as exc:
            # A form it knows with numbers its rules refuse (uniform:500:100): say the rule.
            error = exc.errors()[0]
            rule = str(error["msg"]).removeprefix("Value error, ")
            if error["type"].startswith("greater_than"):  # a length, a median or a cap
                rule = "its lengths above 0"
            elif error["type"] == "finite_number":
                rule = "finite numbers"
            elif error["type"] == "int_from_float":  # MAX
                rule = "MAX a whole number of tokens"
            elif error["type"].startswith("less_than") or error["type"] == "int_parsing_size":
                rule = f"its lengths at most {MAX_LENGTH:,} tokens"
            raise InvalidInputError(field, text, f"{LENGTH_FORMS} ({rule})") from None
        except ValueError:
            pass
        raise InvalidInputError(field, text, LENGTH_FORMS)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            raw = np.full(n, self.a)
        elif self.kind == "uniform":
            raw = rng.uniform(self.a, self.b + 1, n)
            raw = np.floor(raw)
        elif self.kind == "normal":
            raw = rng.normal(self.a, self.b, n)
        elif self.kind == "lognormal":
            with np.errstate(over="ignore"):  # a wide sigma's draws overflow to inf: clipped
                raw = self.a * np.exp(rng.normal(0.0, self.b, n))
        else:
            raw = rng.choice(np.array(self.values, dtype=np.float64), n)
        # Uncapped draws stay within int64 (a cast beyond it wraps to a negative length), far
        # above any context, which then refuses them.
        top = self.maximum or DRAW_CEILING
        return np.clip(np.round(raw), 1, top).astype(np.int64)

    @property
    def longest(self) -> int | None:
        """The longest length drawn (sample's clip); None where draws are unbounded."""
        if self.kind == "fixed":
            return int(self.a)
        if self.kind == "uniform":
            return int(self.b)
        if self.kind == "empirical":
            return max(self.values)
        return self.maximum

    @property
    def mean(self) -> float:
        """Mean before clipping (for sizing tables and reports)."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "normal":
            return self.a
        if self.kind == "lognormal":
            return self.a * float(np.exp(self.b**2 / 2))
        return float(np.mean(self.values))


MAX_REQUESTS = 1_000_000


def cv_applies(kind: str, cv: float | None) -> float | None:
    """`cv`, where the arrivals take one: Poisson gaps have a cv of 1 and evenly spaced ones
    0, so another given with them would be ignored."""
    if cv is not None and kind != "gamma":
        raise ValueError(f"none, or gamma arrivals: only gamma gaps take a cv (arrivals={kind})")
    return cv


class ArrivalProcess(Declared):
    """Request arrivals at `rate` per second: Poisson, gamma-distributed gaps with coefficient
    of variation `cv` (cv > 1 is burstier than Poisson), or evenly spaced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The defaults are `rooflens simulate`'s (serving/defaults.py), as a Workload's.
    kind: ArrivalKind = defaults.ARRIVALS
    # Finite: an infinite rate would send every request at once (a burst, not a rate).
    rate: float = Field(default=defaults.RATE, gt=0.0, allow_inf_nan=False)
    # Gamma gaps' coefficient of variation; None: the default (defaults.CV).
    # Finite: nan was named as above the maximum (every comparison with it fails).
    cv: float | None = Field(default=None, ge=CV_MIN, le=CV_MAX, allow_inf_nan=False)

    @field_validator("cv")
    @classmethod
    def _cv_applies(cls, cv: float | None, info: ValidationInfo) -> float | None:
        return cv_applies(info.data.get("kind", defaults.ARRIVALS), cv)

    @property
    def gamma_cv(self) -> float:
        """The gamma gaps' coefficient of variation: the one given, else the default."""
        return CV if self.cv is None else self.cv

    def gaps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Gaps at rate 1: scaling by 1/rate keeps the same draws for every rate, so a capacity
        search compares rates on common random numbers."""
        if self.kind == "fixed":
            return np.ones(n)
        if self.kind == "poisson":
            return rng.exponential(1.0, n)
        shape = 1.0 / self.gamma_cv**2
        return rng.gamma(shape, 1.0 / shape, n)


class Workload(Declared):
    """Synthetic requests: `requests` arrivals with drawn prompt and output lengths. Every
    prompt starts with the same `shared_prefix` tokens (a system prompt), which prefix sharing
    can cache once. What is left out is `rooflens simulate`'s default (serving/defaults.py):
    1,000 Poisson arrivals at 4 per second, lognormal prompts and outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A million requests take minutes to simulate (10,000 take seconds); more is refused
    # rather than allocated (1e13 once asked for 73 TiB).
    requests: int = Field(default=defaults.REQUESTS, ge=1, le=MAX_REQUESTS)
    arrivals: ArrivalProcess = Field(default_factory=ArrivalProcess)
    prompt: LengthDistribution = Field(
        default_factory=lambda: LengthDistribution.parse("prompt", defaults.PROMPT)
    )
    output: LengthDistribution = Field(
        default_factory=lambda: LengthDistribution.parse("output", defaults.OUTPUT)
    )
    shared_prefix: int = Field(default=0, ge=0)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)  # numpy's generator takes these

    @field_validator("requests", "shared_prefix", "seed", mode="before")
    @classmethod
    def _whole(cls, value: object, info: ValidationInfo) -> object:
        # No 10.0 requests and no true as one, as the scheduler's numbers.
        return declared_number(cls, str(info.field_name), value)

    @field_validator("prompt", "output", mode="before")
    @classmethod
    def _lengths_as_text(cls, value: object, info: ValidationInfo) -> object:
        # The command line's forms ("fixed:1000", "uniform:128:1024", 512) in the API too.
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return LengthDistribution.parse(str(info.field_name), str(value))
        if not isinstance(value, LengthDistribution | dict):
            # pydantic would ask for "a valid dictionary or instance of LengthDistribution",
            # naming none of the forms (5.5 is no whole number of tokens).
            raise InvalidInputError(
                str(info.field_name), value, f"{LENGTH_FORMS}, or a LengthDistribution"
            )
        return value

    def at_rate(self, rate: float) -> Workload:
        return self.model_copy(update={"arrivals": self.arrivals.model_copy(update={"rate": rate})})

    def draw(self) -> Requests:
        rng = np.random.default_rng(self.seed)
        gaps = self.arrivals.gaps(rng, self.requests)
        prompt = self.prompt.sample(rng, self.requests) + self.shared_prefix
        output = self.output.sample(rng, self.requests)
        with np.errstate(over="ignore", invalid="ignore"):
            arrival = (np.cumsum(gaps) - gaps[0]) / self.arrivals.rate
        if not (np.isfinite(arrival) & (arrival <= LATEST_ARRIVAL)).all():
            # At 1e-310 requests/s the arrivals overflow: requests that never arrive are not
            # served, and a run must not count them as done. Long before, the clock stops
            # resolving a step: at 1e300 s a millisecond vanishes in rounding (TPOT 0).
            raise InvalidInputError(
                "rate",
                self.arrivals.rate,
                f"a rate at which all {self.requests} requests arrive within "
                f"{LATEST_ARRIVAL:.0e} s (about 32 years)",
            )
        return Requests(arrival, prompt, output, self.shared_prefix)


@dataclass(frozen=True)
class Requests:
    """Arrival time (s), prompt and output length (tokens) of each request, in arrival order."""

    arrival: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    shared_prefix: int = 0

    def __post_init__(self) -> None:
        # Built by hand in a script too: lists read as arrays, and every value checked as a
        # trace's are (a NaN arrival had kept the simulator waiting for it forever).
        columns = {}
        for field, values in (
            ("arrival_time", self.arrival),
            ("prompt_len", self.prompt),
            ("output_len", self.output),
        ):
            try:
                array = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                raise InvalidInputError(field, values, "an array of numbers") from None
            if array.ndim != 1:
                raise InvalidInputError(field, f"{array.ndim}-d", "a one-dimensional array")
            if not np.isfinite(array).all():
                first = array[~np.isfinite(array)][0].item()
                raise InvalidInputError(field, first, "finite numbers")
            columns[field] = array
        arrival, prompt, output = columns.values()
        if not len(arrival):
            raise InvalidInputError("requests", 0, "at least one request")
        if not len(arrival) == len(prompt) == len(output):
            lengths = f"{len(arrival)}, {len(prompt)} and {len(output)}"
            raise InvalidInputError(
                "requests", lengths, "as many arrival times, prompt and output lengths"
            )
        if np.any(np.diff(arrival) < 0) or np.any(arrival < 0):
            raise InvalidInputError("arrival_time", "unsorted", "non-negative, in order")
        for field, values in (("prompt_len", prompt), ("output_len", output)):
            # Within int64 (drawn lengths are clipped to 2**62; the model's context bounds
            # them where they are served).
            bad = (values < 1) | (values != np.round(values)) | (values > 2**62)
            if bad.any():
                shown = values[bad][0].item()
                raise InvalidInputError(field, shown, "a positive whole number of tokens")
        prefix = self.shared_prefix
        if isinstance(prefix, np.integer):
            prefix = int(prefix)
        if isinstance(prefix, bool) or not isinstance(prefix, int) or prefix < 0:
            raise InvalidInputError("shared_prefix", prefix, "a whole number of tokens, at least 0")
        if prefix > prompt.min():
            raise InvalidInputError(
                "shared_prefix", prefix, f"at most the shortest prompt ({int(prompt.min())} tokens)"
            )
        object.__setattr__(self, "arrival", arrival)
        object.__setattr__(self, "prompt", prompt.astype(np.int64))
        object.__setattr__(self, "output", output.astype(np.int64))
        object.__setattr__(self, "shared_prefix", prefix)

    def __len__(self) -> int:
        return len(self.arrival)

    @property
    def duration(self) -> float:
        return float(self.arrival[-1] - self.arrival[0])

    def subset(self, index: np.ndarray) -> Requests:
        return Requests(
            self.arrival[index], self.prompt[index], self.output[index], self.shared_prefix
        )


# Column names accepted in a trace, first the canonical one.
TRACE_COLUMNS = {
    "arrival_time": ("arrival_time", "timestamp", "arrival"),
    "prompt_len": ("prompt_len", "input_len", "prompt_tokens", "input_tokens"),
    "output_len": ("output_len", "output_tokens", "completion_tokens"),
}


class TraceFormat(NamedTuple):
    """A public trace's own columns: its arrival time (in `time_unit`: seconds a unit, or
    "datetime" for clock times) and its prompt and output lengths in tokens."""

    name: str
    arrival: str
    prompt: str
    output: str
    time_unit: float | str


# Public traces read as published, each recognised by its three columns together (a file
# with rooflens' own columns is read as those first).
TRACE_FORMATS = (
    # Mooncake's (FAST'25) JSONL, as NVIDIA Dynamo and aiperf replay it: the arrival in ms
    # since the first request (its README); hash_ids, its prefix blocks, are not read.
    TraceFormat("Mooncake", "timestamp", "input_length", "output_length", 1e-3),
    # Azure's LLM inference traces (2023, 2024): TIMESTAMP a clock time.
    TraceFormat("Azure", "TIMESTAMP", "ContextTokens", "GeneratedTokens", "datetime"),
    # BurstGPT's CSV: Timestamp in seconds; its Model, Total tokens and Log Type not read.
    TraceFormat("BurstGPT", "Timestamp", "Request tokens", "Response tokens", 1.0),
)


def _first_bad(bad: np.ndarray, frame: pd.DataFrame, column: str) -> str:
    """Where a trace first breaks a rule: its row (1 the first after the header) and the
    value read there."""
    row = int(np.argmax(bad))
    value = frame[column].iloc[row]
    shown = value.item() if isinstance(value, np.generic) else value  # -3, not np.int64(-3)
    return f" (row {row + 1}: {shown!r})"


def _trace_columns(frame: pd.DataFrame, path: Path) -> tuple[dict[str, str], TraceFormat | None]:
    """The column read for each field, and the public format they are (None: rooflens')."""
    own = {
        field: next((n for n in names if n in frame.columns), None)
        for field, names in TRACE_COLUMNS.items()
    }
    if all(own.values()):
        return {k: str(v) for k, v in own.items()}, None
    for form in TRACE_FORMATS:
        if {form.arrival, form.prompt, form.output} <= set(frame.columns):
            fields = {"arrival_time": form.arrival, "prompt_len": form.prompt}
            return {**fields, "output_len": form.output}, form
    # The format most of whose columns the file has names the one it lacks.
    found = sum(v is not None for v in own.values())
    for form in TRACE_FORMATS:
        wanted = (form.arrival, form.prompt, form.output)
        missing = [c for c in wanted if c not in frame.columns]
        if 3 - len(missing) > found:
            spelled = f"{', '.join(wanted[:-1])} and {wanted[-1]}"
            raise InvalidInputError(
                "trace", str(path), f"a column {missing[0]} (a {form.name} trace's {spelled})"
            )
    field = next(k for k, v in own.items() if v is None)
    names = TRACE_COLUMNS[field]
    *others, last = (f.name for f in TRACE_FORMATS)
    known = f"{', '.join(others)} or {last}"
    raise InvalidInputError(
        "trace",
        str(path),
        f"a column {', '.join(names[:-1])} or {names[-1]} (or a {known} trace's columns)",
    )


def _booleans(column: pd.Series) -> np.ndarray:
    """Where a column holds true or false (JSON's), which pandas would read as 1 and 0."""
    if column.dtype == bool:
        return np.ones(len(column), dtype=bool)
    if column.dtype != object:
        return np.zeros(len(column), dtype=bool)
    return np.fromiter((isinstance(v, bool) for v in column), dtype=bool, count=len(column))


def load_trace(path: str | Path) -> Requests:
    """A CSV or JSONL file with an arrival time in seconds and prompt and output lengths per
    request (column names in TRACE_COLUMNS), or a public trace as published
    (TRACE_FORMATS). Rows are sorted by arrival; other columns are not read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise InvalidInputError("trace", str(path), "a .csv or .jsonl file")
    try:
        # utf-8-sig: a byte-order mark, as some editors write one, is no part of the text.
        if suffix == ".csv":
            frame = pd.read_csv(path, encoding="utf-8-sig")
        else:
            # Values as written: pandas would otherwise read a column named timestamp or
            # *_time as dates where every value passes a year in seconds (a Mooncake excerpt
            # from 8.8 h on, in ms, came out a million times slower).
            frame = pd.read_json(
                path,
                lines=True,
                encoding="utf-8-sig",
                convert_dates=False,
                keep_default_dates=False,
            )
    except (OSError, ValueError) as exc:
        raise InvalidInputError("trace", str(path), f"a readable trace file ({exc})") from None
    names, form = _trace_columns(frame, path)
    if not len(frame):
        raise InvalidInputError("trace", str(path), "at least one request")
    columns = {
        field: np.where(
            _booleans(frame[name]), np.nan, pd.to_numeric(frame[name], errors="coerce")
        ).astype(float)
        for field, name in names.items()
    }
    if form is not None and form.time_unit == "datetime":
        given = frame[form.arrival]
        # Clock times only: a number (seconds? nanoseconds?) is not what the format holds.
        # Offsets may differ from row to row: each read as the instant it names.
        clock = pd.Series(pd.NaT, index=given.index, dtype="datetime64[ns, UTC]")
        text = given.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        if text.any():
            # ISO 8601, as both published layouts write them (7-digit fractions, offsets or
            # none: read as UTC); "May 10 2024" or 11/16 vs 16/11 would be guesses.
            clock[text] = pd.to_datetime(given[text], errors="coerce", format="ISO8601", utc=True)
        seconds = (clock - clock.min()).dt.total_seconds().to_numpy(dtype=float)
        columns["arrival_time"] = np.where(clock.isna().to_numpy(), np.nan, seconds)
    elif form is not None:
        columns["arrival_time"] = columns["arrival_time"] * float(form.time_unit)
    for field, values in columns.items():
        if not np.isfinite(values).all():
            what = (
                "a clock time"
                if field == "arrival_time" and form and form.time_unit == "datetime"
                else "a number"
            )
            raise InvalidInputError(
                "trace",
                str(path),
                f"{what} for {names[field]} in every row"
                + _first_bad(~np.isfinite(values), frame, names[field]),
            )
    for field in ("prompt_len", "output_len"):
        lengths = columns[field]
        bad = (lengths < 1) | (lengths != np.round(lengths))
        if bad.any():
            # A length of 10.7 tokens is no request: never truncated silently.
            raise InvalidInputError(
                "trace",
                str(path),
                f"{names[field]} a positive whole number{_first_bad(bad, frame, names[field])}",
            )
        if (lengths > MAX_LENGTH).any():
            where = _first_bad(lengths > MAX_LENGTH, frame, names[field])
            raise InvalidInputError(
                "trace", str(path), f"{names[field]} at most {MAX_LENGTH:,} tokens{where}"
            )
    if np.any(columns["arrival_time"] < 0):
        bad = columns["arrival_time"] < 0
        raise InvalidInputError(
            "trace",
            str(path),
            f"{names['arrival_time']} at least 0{_first_bad(bad, frame, names['arrival_time'])}",
        )
    order = np.argsort(columns["arrival_time"], kind="stable")
    arrival = columns["arrival_time"][order]
    return Requests(
        arrival - arrival[0],
        columns["prompt_len"][order].astype(np.int64),
        columns["output_len"][order].astype(np.int64),
    )


def fitted_to(workload: Workload, context: int | None) -> Workload:
    """`workload` with the lengths it leaves at their defaults fitted to a model of `context`
    positions, as `rooflens simulate` fits them (defaults.default_lengths: GPT-2's 1,024
    positions refused the defaults' 3,072 + 1,024 tokens); lengths it sets, as set."""
    unset = {"prompt", "output"} - workload.model_fields_set
    if not unset:
        return workload
    prompt, output = defaults.default_lengths(
        context,
        defaults.PROMPT if "prompt" in unset else workload.prompt,
        defaults.OUTPUT if "output" in unset else workload.output,
        workload.shared_prefix,
    )
    fitted = {"prompt": prompt, "output": output}
    return workload.model_copy(update={k: LengthDistribution.parse(k, fitted[k]) for k in unset})


def default_workload(context: int | None = None, shared_prefix: int = 0) -> Workload:
    """The synthetic workload a simulation runs when none is given, `rooflens simulate`'s:
    `Workload()`, its lengths capped to fit a model of `context` positions
    (defaults.default_lengths). Its arrivals are left at their defaults, unset, so that a
    closed loop may take it (api.closed_loop_requests refuses a workload that sets them)."""
    prompt, output = defaults.default_lengths(context, shared_prefix=shared_prefix)
    return Workload(
        prompt=LengthDistribution.parse("prompt", prompt),
        output=LengthDistribution.parse("output", output),
    )
