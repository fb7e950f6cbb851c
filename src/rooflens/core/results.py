"""Results of an analysis: arrays inside, tables and plain dicts outside."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from rooflens.core.economics import FIGURES as ECONOMICS_FIGURES
from rooflens.core.economics import MAX_GRID_INTENSITY, economics
from rooflens.core.errors import InvalidInputError
from rooflens.core.graph import kv_spans
from rooflens.core.hardware import MAX_HOURLY_PRICE, Device
from rooflens.core.memory import kv_layers_held
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions
from rooflens.core.pricing import BYTE_FIELDS, StepCosts, idle_settings, prefill_graph_lines
from rooflens.core.techniques import quantization

if TYPE_CHECKING:
    import pandas as pd

OPERATOR_COLUMNS = (
    "stage",
    "name",
    "scope",
    "count",
    "ops",
    "memory_access",
    *BYTE_FIELDS,
    "vector_ops",
    "link_time",
    "quantize_time",
    "arithmetic_intensity",
    "performance",
    "bound",
    "compute_dtype",
    "time",
    "efficiency",
    "priced_by",
    "span",
    "chunk",
    "mlp_width",
)

_GENERATION_HEADLINES = ("ttft", "tpot", "e2e_latency", "throughput")


def _reach(step: StepCosts, field: str, size: int) -> np.ndarray:
    """A step's attention reach per operator (Placement.spans or .chunks), None where there is
    no limit or no placement."""
    values = getattr(step.placement, field) if step.placement is not None else (None,) * size
    return np.array(values, dtype=object)


@dataclass(frozen=True)
class Footprint:
    """Bytes resident at a stage's peak (arrays shaped like the sweep)."""

    weights: np.ndarray
    kv_cache: np.ndarray
    activations: np.ndarray
    capacity: float
    max_batch: np.ndarray
    framework: float = 0.0
    host: np.ndarray | float = 0.0
    # Bytes the engine leaves the KV cache and the activations (core.memory.kv_room, the rule
    # max_batch divides): SGLang's and TensorRT-LLM's shares bind them below the capacity.
    room: np.ndarray | float = np.inf
    # The activations are an engine's reserve, set aside at start whatever the batch
    # (AnalysisOptions.activation_reserve_tokens): `room` already excludes them.
    reserved: bool = False
    # The sequences held, and the most an engine runs at once where a pool of their own bounds
    # them (SGLang's recurrent states, AnalysisOptions.state_pool): max_batch is at most it.
    batch: np.ndarray | float = 0.0
    running: np.ndarray | float = np.inf

    @property
    def total(self) -> np.ndarray:
        return self.weights + self.kv_cache + self.activations + self.framework

    @property
    def fits(self) -> np.ndarray:
        """Within the device, and the cache and activations within the room the engine
        leaves them: the batch is at most max_batch."""
        beside_cache = 0.0 if self.reserved else self.activations
        held = (self.total <= self.capacity) & (self.kv_cache + beside_cache <= self.room)
        return held & (self.batch <= self.running)

    @property
    def limit(self) -> np.ndarray:
        """The most the total may reach and fit: the capacity, or less where the engine's
        room binds (SGLang's share for weights and KV cache, TensorRT-LLM's of free memory)."""
        beside_cache = 0.0 if self.reserved else self.activations
        return np.minimum(self.capacity, self.total - (self.kv_cache + beside_cache) + self.room)

    def __repr__(self) -> str:
        # At a single point its arrays read as the numbers they hold.
        shown = ", ".join(f"{f.name}={_shown(getattr(self, f.name))!r}" for f in fields(self))
        return f"Footprint({shown})"

    def as_dict(self) -> dict[str, np.ndarray | float]:
        return {
            "weights": self.weights,
            "kv_cache": self.kv_cache,
            "activations": self.activations,
            "framework": self.framework,
            "host": self.host,
            "total": self.total,
            "capacity": self.capacity,
            "fits": self.fits,
            "max_batch": self.max_batch,
        }


def _shown(value: Any) -> Any:
    """A numpy scalar or 0-d array as the Python number it holds (arrays and the rest kept)."""
    if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0:
        return value.item()
    return value


def _point(value: Any) -> Any:
    """A 0-d array as a plain float (a sweep's arrays stay arrays)."""
    return float(value) if np.ndim(value) == 0 else value


def larger_footprint(a: Footprint, b: Footprint) -> Footprint:
    """Point by point, the footprint with the larger total (and the smaller largest batch)."""
    first = a.total >= b.total
    return Footprint(
        weights=np.where(first, a.weights, b.weights),
        kv_cache=np.where(first, a.kv_cache, b.kv_cache),
        activations=np.where(first, a.activations, b.activations),
        capacity=a.capacity,
        max_batch=np.minimum(a.max_batch, b.max_batch),
        framework=a.framework,
        host=np.where(first, a.host, b.host),
        room=np.where(first, a.room, b.room),
        reserved=a.reserved,
        batch=np.where(first, a.batch, b.batch),
        running=np.minimum(a.running, b.running),
    )


def json_ready(value: object) -> object:
    """Plain JSON values: numpy scalars and arrays as Python numbers and lists, and a number
    that does not exist (NaN, an infinity) as null, never as the invalid JSON `NaN`."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if type(value).__name__ == "NAType":
        # pandas' missing value, which a nullable column's records hold under pandas 2 (the
        # advice's `verified` for picks not simulated): null, not the string "<NA>".
        return None
    return value


def _real(value: object) -> bool:
    """A finite number, one value (not True, a string or an array: "3" raised TypeError)."""
    number = isinstance(value, int | float | np.integer | np.floating)
    return number and not isinstance(value, bool | np.bool_) and math.isfinite(value)


def _count(value: Any) -> Any:
    """A size or count (held as a float array) as a whole number where it is one."""
    value = _plain(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _sizes(value: Any) -> Any:
    """A point's size as a whole number; a sweep's, its distinct values in order."""
    if np.ndim(value) == 0:
        return _count(value)
    return [_count(v) for v in np.unique(value)]


def _plain(value: Any) -> Any:
    """numpy scalars and 0-d arrays -> Python numbers (_shown); NaN -> None (valid JSON)."""
    value = _shown(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Analysis:
    model: ModelSpec
    device: Device
    options: AnalysisOptions
    batch: np.ndarray
    prompt_len: np.ndarray
    gen_len: np.ndarray | None
    params: int
    # Of `params`, those one token runs through: a layer's top-k of its routed experts
    # (Graph.active_params); all of them in a dense model.
    active_params: int
    steps: dict[str, StepCosts]
    memory: dict[str, Footprint]
    generation: dict[str, np.ndarray] | None
    # The prompt as given, where the prefill processes another length (`prompt_len`: the
    # share prompt compression keeps, plus the images' tokens); None where the two agree.
    asked_prompt_len: np.ndarray | None = None
    # Images per request, where any (their tokens are in `prompt_len`).
    images: np.ndarray | None = None

    def __repr__(self) -> str:
        # What was analysed, model, device and sizes (a sweep's axes as their distinct
        # values), not every field of the model; the settings are in `options`.
        return (
            f"Analysis(model={self.model.name!r}, device={self.device.name!r}, "
            f"batch={_sizes(self.batch)!r}, prompt_len={_sizes(self.given_prompt_len)!r}, "
            f"gen_len={None if self.gen_len is None else _sizes(self.gen_len)!r}, "
            f"shape={self.shape!r})"
        )

    @property
    def given_prompt_len(self) -> np.ndarray:
        """The prompt length as asked for (`prompt_len` is what the prefill processes)."""
        return self.prompt_len if self.asked_prompt_len is None else self.asked_prompt_len

    @property
    def shape(self) -> tuple[int, ...]:
        return self.steps["prefill"].ops.shape[1:]

    @property
    def peak_memory(self) -> Footprint:
        """The footprint at the run's peak: the whole generation (its longest context with the
        larger of the prefill's and decode's activations) when there is one, else the larger
        of the prefill and decode steps. "Fits" and "largest batch" everywhere mean this."""
        if "generation" in self.memory:
            return self.memory["generation"]
        return larger_footprint(self.memory["prefill"], self.memory["decode"])

    @property
    def fallbacks(self) -> list[str]:
        """Operators the engine profile prices with another type's or class's curves, and
        what prices them (its `fallbacks`), and float weights the device has no tensor type
        for, run weight-only (the only lines of a roofline bound)."""
        lines = [line for step in self.steps.values() for line in step.fallbacks]
        on_link = any(step.on_link_model for step in self.steps.values())
        lines += idle_settings(self.options, on_link)
        largest = float(np.max(self.steps["prefill"].tokens))
        lines += prefill_graph_lines(self.options, largest)
        lines += quantization.weight_only_lines(self.options, self.device)
        return list(dict.fromkeys(lines))

    @property
    def stand_ins(self) -> list[str]:
        """The curves ("class:type") the engine profile lacks for this model and prices with
        others' (each `fallbacks` line says with which); empty for the roofline bound."""
        return list(dict.fromkeys(c for step in self.steps.values() for c in step.stand_ins))

    @property
    def notes(self) -> list[str]:
        """What the estimate rests on beyond its measurements: operators whose profile curve
        is read outside the sizes it was fitted over (empty for the roofline bound)."""
        return [
            f"{stage}: {note}" for stage, step in self.steps.items() for note in step.beyond_fit
        ]

    @property
    def fits(self) -> np.ndarray:
        return self.peak_memory.fits

    @property
    def is_point(self) -> bool:
        return self.shape == ()

    def _require_point(self, what: str) -> None:
        if not self.is_point:
            raise InvalidInputError(
                what, f"a sweep of shape {self.shape}", "a single point; use summary() for sweeps"
            )

    def operator_columns(self) -> dict[str, list[object]]:
        """One list per column of `operators()`, stage by stage, as plain Python values: the
        one place the operator rows are read from the priced steps (the CLI's table and the
        web build no frame)."""
        self._require_point("operators")
        columns: dict[str, list[object]] = {c: [] for c in OPERATOR_COLUMNS}
        for stage, st in self.steps.items():
            size = len(st.names)
            values = {
                "stage": [stage] * size,
                "name": st.names,
                "scope": st.scopes,
                "count": st.counts,
                "ops": st.ops,
                "memory_access": st.memory_access,
                **{f: st.fields[f] for f in BYTE_FIELDS},
                "vector_ops": st.fields["vector_ops"],
                "link_time": st.link_time,
                "quantize_time": st.quantize_time,
                "arithmetic_intensity": st.arithmetic_intensity,
                "performance": st.performance,
                "bound": st.bound,
                "compute_dtype": st.dtypes,
                "time": st.time,
                "efficiency": st.efficiency,
                "priced_by": st.priced_by,
                # Which layer variant a row is: Gemma 3 lists attention twice, window and global.
                "span": _reach(st, "spans", size),
                "chunk": _reach(st, "chunks", size),
                "mlp_width": _reach(st, "mlp_widths", size),
            }
            for column in OPERATOR_COLUMNS:
                columns[column] += np.broadcast_to(np.asarray(values[column]), (size,)).tolist()
        return columns

    def operators(self) -> pd.DataFrame:
        """One row per operator and stage; block operators are per layer (`count` = layers)."""
        import pandas as pd  # only where a frame is built: importing rooflens stays light

        columns = self.operator_columns()
        frame = pd.DataFrame(columns, columns=list(OPERATOR_COLUMNS))
        for reach in ("span", "chunk", "mlp_width"):  # whole numbers or None, not NaN
            frame[reach] = pd.Series(columns[reach], dtype=object)
        return frame

    def totals(self) -> dict[str, dict[str, Any]]:
        """Network totals per stage: per-layer figures times layers, plus the head (plain
        floats for one point, arrays shaped like the sweep otherwise)."""
        out = {}
        for stage, st in self.steps.items():
            row = {
                "time": st.step_time(),
                "ops": st.field_total("ops"),
                "memory_access": st.field_total("memory_access"),
            }
            row |= {f: st.field_total(f) for f in BYTE_FIELDS}
            row["compute_bound_time"] = st.total(np.where(st.compute_bound, st.time, 0.0))
            out[stage] = {k: _point(v) for k, v in row.items()}
        return out

    def bottlenecks(self, stage: str, top: int = 3) -> list[dict[str, Any]]:
        """Operators taking the largest share of a stage's time, with what bounds them. Rows
        of one name count together (Gemma 3's window and global attention, Nemotron-NAS's
        MLP of each width), bound as their largest row is."""
        self._require_point("bottlenecks")
        stage = stage.lower() if isinstance(stage, str) else stage
        if stage not in self.steps:
            raise InvalidInputError("stage", stage, f"one of {', '.join(self.steps)}")
        top = top.item() if isinstance(top, np.integer) else top
        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise InvalidInputError("top", top, "a positive integer")
        st = self.steps[stage]
        times = st.counts * st.time
        total = times.sum()
        names = list(dict.fromkeys(st.names))
        rows = np.array([names.index(n) for n in st.names])
        summed = np.bincount(rows, weights=times, minlength=len(names))
        # The largest row of each name: sorted by time, the last one written per name wins.
        largest = np.empty(len(names), dtype=int)
        by_time = np.argsort(times, kind="stable")
        largest[rows[by_time]] = by_time
        order = np.argsort(-summed, kind="stable")[:top]
        return [
            {
                "name": names[i],
                "share": float(summed[i] / total) if total else 0.0,
                "bound": str(st.bound[largest[i]]),
            }
            for i in order
        ]

    def summary(self) -> pd.DataFrame:
        """One row per sweep point: inputs, stage totals, memory and generation figures."""
        import pandas as pd  # only where a frame is built: importing rooflens stays light

        shape = self.shape
        cols: dict[str, np.ndarray] = {"batch": self.batch, "prompt_len": self.given_prompt_len}
        if self.asked_prompt_len is not None:
            cols["prompt_tokens"] = self.prompt_len
        if self.gen_len is not None:
            cols["gen_len"] = self.gen_len
        for stage, row in self.totals().items():
            for key in ("time", "ops", "memory_access"):
                cols[f"{stage}_{key}"] = row[key]
        for stage, fp in self.memory.items():
            cols[f"{stage}_memory_total"] = fp.total
            cols[f"{stage}_fits"] = fp.fits
        peak = self.peak_memory
        cols["peak_memory"], cols["fits"], cols["max_batch"] = peak.total, peak.fits, peak.max_batch
        for key, value in (self.generation or {}).items():
            cols[key if key in _GENERATION_HEADLINES else f"generation_{key}"] = value
        flat = {k: np.broadcast_to(v, shape).reshape(-1) for k, v in cols.items()}
        frame = pd.DataFrame(flat)
        counts = ("batch", "prompt_len", "prompt_tokens", "gen_len", "max_batch")
        inputs = [c for c in counts if c in frame]
        frame[inputs] = frame[inputs].astype(np.int64)
        return frame

    def economics(
        self, hourly_price: float | None = None, grid_intensity: float | None = None
    ) -> dict[str, np.ndarray]:
        """Power, energy per token and request, cost per million tokens (at `hourly_price` USD
        per device-hour, default the catalog's) and carbon (at `grid_intensity` gCO2e/kWh),
        for every device of the deployment (rooflens.core.economics documents the model)."""
        self._check_money(hourly_price, grid_intensity)
        par = self.options.parallelism
        return economics(
            self.steps,
            self.generation,
            self.device,
            par.devices,
            self.batch * par.dp,
            self.prompt_len,
            self.gen_len,
            hourly_price,
            grid_intensity,
        )

    def _check_money(self, hourly_price: float | None, grid_intensity: float | None) -> None:
        """The price and grid intensity given, as every path that prices reads them."""
        if hourly_price is not None and not (
            _real(hourly_price) and 0 < hourly_price <= MAX_HOURLY_PRICE
        ):
            raise InvalidInputError(
                "hourly_price", hourly_price, f"USD per device-hour in (0, {MAX_HOURLY_PRICE:g}]"
            )
        if grid_intensity is not None and not (
            _real(grid_intensity) and 0 <= grid_intensity <= MAX_GRID_INTENSITY
        ):
            raise InvalidInputError(
                "grid_intensity", grid_intensity, f"gCO2e per kWh in [0, {MAX_GRID_INTENSITY:g}]"
            )
        if grid_intensity is not None and self.device.tdp is None:
            raise InvalidInputError(
                "grid_intensity",
                grid_intensity,
                f"a device with a TDP: carbon follows from energy, and {self.device.name} has none",
            )

    def context(self) -> dict[str, Any]:
        """What the analysis computed, as its JSON states it before the figures (a sweep's
        too): model, device, parameters, inputs (sizes, a sweep's as the distinct values of
        each axis, and the precision as run), the estimate, the devices its figures are per
        device of, notes and fallbacks."""
        q = self.options.quantization
        return {
            "model": self.model.name,
            "hardware": self.device.name,
            "params": self.params,
            "active_params": self.active_params,
            "inputs": {
                "batch": _sizes(self.batch),
                "prompt_len": _sizes(self.given_prompt_len),
                # What the prefill processes: the prompt, less what compression drops, plus
                # the images' tokens.
                "prompt_tokens": _sizes(self.prompt_len),
                "images": _sizes(
                    np.broadcast_to(0 if self.images is None else self.images, self.shape)
                ),
                "gen_len": None if self.gen_len is None else _sizes(self.gen_len),
                "w_bits": q.w_bits,
                "a_bits": q.a_bits,
                "kv_bits": q.kv_bits,
                "group_size": q.group_size,
                "w_format": q.w_format,
                # Float weights' scales ("channel", "tensor" or a block's weight count, as
                # DeepSeek-V3's 16384) and 8-bit activations' (dynamic or static): both change
                # what a checkpoint stored in FP8 is priced at.
                "w_scale": q.w_scale,
                "a_scale": q.a_scale,
                "expert_weights": None
                if self.options.expert_quantization is None
                else {
                    "w_bits": self.options.expert_quantization.w_bits,
                    "w_format": self.options.expert_quantization.w_format,
                },
                "kv_budget": self.options.kv_budget,
                "prompt_keep": self.options.prompt_keep,
                "flash_attention": self.options.flash_attention,
            },
            "estimate": self.options.estimate,
            # Weights, KV cache, memory and times are per device of these (tp x pp x dp, in
            # each of the attention groups whose tokens the experts serve where they spread
            # over several); power and cost cover one group's (all where there is one).
            "devices": self.options.parallelism.devices
            * self.options.parallelism.expert_token_groups,
            # An engine's activations: the peak of one iteration of this many tokens, set
            # aside at start (AnalysisOptions); null: each stage's own peak.
            "activation_reserve_tokens": self.options.activation_reserve_tokens,
            # The layers' worth of KV blocks an engine's layer groups hold (vLLM pads Gemma 3
            # 27B's 62 layers to 70); null: every layer its own.
            "kv_layers_held": kv_layers_held(
                kv_spans(self.model, self.options), self.model, self.options.kv_group_slack
            ),
            "notes": self.notes,
            "fallbacks": self.fallbacks,
        }

    def to_dict(
        self, hourly_price: float | None = None, grid_intensity: float | None = None
    ) -> dict[str, Any]:
        """Plain JSON-ready dict (SI units: OPs, bytes, seconds, OP/s): `context()`, then the
        figures; energy and cost at `hourly_price` and carbon at `grid_intensity` when given
        (see `economics`)."""
        self._require_point("to_dict")
        out: dict[str, Any] = {
            **self.context(),
            "operators": [
                {k: _plain(v) for k, v in row.items()}
                for row in self.operators().to_dict(orient="records")
            ],
            "totals": {
                stage: {k: _plain(v) for k, v in row.items()}
                | {"bottlenecks": self.bottlenecks(stage)}
                for stage, row in self.totals().items()
            },
            "memory": self.memory_figures(),
        }
        # Every key is there whatever the analysis: null where it does not apply (no
        # generation without gen_len, no energy for a device without a TDP), so that a script
        # reads one shape.
        out["generation"] = None
        if self.generation is not None:
            out["generation"] = {k: _plain(v) for k, v in self.generation.items()}
        out["economics"] = self.economics_figures(hourly_price, grid_intensity)
        return out

    def memory_figures(self) -> dict[str, dict[str, Any]]:
        """Each stage's footprint as every JSON writes it, the command line's and the web
        API's: bytes as numbers, `fits` as true or false, `max_batch` as a whole number."""
        self._require_point("memory_figures")
        return {
            stage: {k: (_count if k == "max_batch" else _plain)(v) for k, v in fp.as_dict().items()}
            for stage, fp in self.memory.items()
        }

    def economics_figures(
        self, hourly_price: float | None = None, grid_intensity: float | None = None
    ) -> dict[str, float | None] | None:
        """`economics` as every JSON writes it, the command line's and the web API's: each
        figure of rooflens.core.economics.FIGURES, in its order, null where it does not apply
        (cost without a price, carbon without a grid intensity, a request without gen_len, an
        output token of a one-token answer, power and energy on a device without a TDP);
        None where no figure applies (no TDP and no price). One analysed point (not a
        sweep)."""
        self._require_point("economics_figures")
        self._check_money(hourly_price, grid_intensity)
        if self.device.tdp is None and (hourly_price or self.device.hourly_price) is None:
            return None
        figures = self.economics(hourly_price, grid_intensity)
        return {k: _plain(figures.get(k)) for k in ECONOMICS_FIGURES}

    def _repr_html_(self) -> str:
        if not self.is_point:
            return self.summary()._repr_html_()
        return self.operators()._repr_html_()


COMPARED = (
    ("prefill time", lambda a: a.totals()["prefill"]["time"], "s"),
    ("decode step time", lambda a: a.totals()["decode"]["time"], "s"),
    ("prefill memory access", lambda a: a.totals()["prefill"]["memory_access"], "B"),
    ("decode memory access", lambda a: a.totals()["decode"]["memory_access"], "B"),
    ("prefill OPs", lambda a: a.totals()["prefill"]["ops"], "OP"),
    ("decode OPs", lambda a: a.totals()["decode"]["ops"], "OP"),
    ("weights", lambda a: a.memory["decode"].weights, "B"),
    ("KV cache (decode)", lambda a: a.memory["decode"].kv_cache, "B"),
    ("total memory (decode)", lambda a: a.memory["decode"].total, "B"),
    # The whole run's peak (the last generated token's, with a generation) and what holds it.
    ("peak memory", lambda a: a.peak_memory.total, "B"),
    ("memory capacity", lambda a: a.peak_memory.capacity, "B"),
)
COMPARED_GENERATION = (
    ("time to first token", "ttft", "s"),
    ("time per output token", "tpot", "s"),
    ("end-to-end latency", "e2e_latency", "s"),
    ("throughput", "throughput", "tokens/s"),
)


def compare(a: Analysis, b: Analysis) -> pd.DataFrame:
    """Two analyses side by side (e.g. with and without a technique): b / a for each figure."""
    import pandas as pd  # only where a frame is built: importing rooflens stays light

    for name, side in (("a", a), ("b", b)):
        if not isinstance(side, Analysis):
            raise InvalidInputError(name, side, "an Analysis (rooflens.analyze's result)")
        side._require_point("compare")
    rows = [(name, float(get(a)), float(get(b)), unit) for name, get, unit in COMPARED]
    if a.generation is not None and b.generation is not None:
        rows += [
            (name, float(a.generation[key]), float(b.generation[key]), unit)
            for name, key, unit in COMPARED_GENERATION
        ]
    frame = pd.DataFrame(rows, columns=["metric", "a", "b", "unit"])
    frame["ratio"] = np.divide(
        frame.b, frame.a, out=np.full(len(frame), np.nan), where=frame.a != 0
    )
    # Whether each fits, as true or false (no ratio): its figures mean little otherwise.
    fits = {"metric": "fits in memory", "a": bool(a.fits), "b": bool(b.fits), "unit": ""}
    frame = frame.astype({"a": object, "b": object})
    return pd.concat([frame, pd.DataFrame([fits | {"ratio": np.nan}])], ignore_index=True)
