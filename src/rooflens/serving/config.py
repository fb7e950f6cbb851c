"""Settings of a simulated deployment: the scheduler of each replica and the cluster around it."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from rooflens.core.errors import InvalidInputError

Policy = Literal["static", "continuous", "chunked"]


class SchedulerConfig(BaseModel):
    """How one replica batches requests (docs/serving.md gives each rule and its source).

    static      request-level batches run to completion (FasterTransformer);
    continuous  iteration-level batching, whole prompts in prefill-only iterations that pause
                decoding (Orca's scheduling as vLLM runs it by default);
    chunked     every iteration carries all decodes plus prompt chunks up to a token budget
                (SARATHI; vLLM chunked prefill; DeepSpeed-FastGen's SplitFuse).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: Policy = "continuous"
    # Step tables are sized by these: bounded so that a typo is refused, not allocated.
    max_batch: int = Field(default=256, ge=1, le=1_000_000)
    # Tokens one iteration may process (vLLM's max_num_batched_tokens).
    max_tokens: int = Field(default=8192, ge=1, le=10_000_000)
    # Most prompt tokens of one request in one iteration (chunked); None: the token budget.
    chunk_size: PositiveInt | None = None
    queue: Literal["fcfs", "spf"] = "fcfs"
    kv_layout: Literal["paged", "contiguous"] = "paged"
    block_size: int = Field(default=16, ge=1, le=1_000_000)
    # Contiguous allocation reserves this many tokens per request; None: the model's maximum.
    max_len: PositiveInt | None = None
    preemption: Literal["recompute", "swap"] = "recompute"
    prefix_sharing: bool = False

    @property
    def chunk(self) -> int:
        return min(self.chunk_size or self.max_tokens, self.max_tokens)


class ClusterConfig(BaseModel):
    """Replicas behind a router, or separate prefill and decode pools (disaggregation, as in
    DistServe and Splitwise) handing each request's KV cache over a link."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replicas: PositiveInt = 1
    router: Literal["round_robin", "least_outstanding"] = "round_robin"
    disaggregated: bool = False
    prefill_replicas: PositiveInt = 1
    decode_replicas: PositiveInt = 1
    # Bytes/s for the KV hand-over; None: the device's interconnect (else its network link).
    # At least 1 MB/s: slower, a hand-over's time overflows (1e-300 B/s once crashed a run).
    kv_link_bandwidth: float | None = Field(default=None, ge=1e6, allow_inf_nan=False)
    # Each pool's tensor and expert parallelism; None: the analyzer options' tp and ep.
    prefill_tp: PositiveInt | None = None
    prefill_ep: PositiveInt | None = None
    decode_tp: PositiveInt | None = None
    decode_ep: PositiveInt | None = None

    @model_validator(mode="after")
    def _check(self) -> ClusterConfig:
        if self.disaggregated and self.replicas != 1:
            raise ValueError(
                "a disaggregated cluster sizes its pools with prefill_replicas and "
                "decode_replicas; leave replicas at 1"
            )
        pools = (self.prefill_tp, self.prefill_ep, self.decode_tp, self.decode_ep)
        if not self.disaggregated and any(v is not None for v in pools):
            raise ValueError(
                "prefill_tp/ep and decode_tp/ep size the pools of a disaggregated cluster"
            )
        return self


class SLO(BaseModel):
    """Service-level objectives on time to first token and time per output token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttft: PositiveFloat = 1.0
    tpot: PositiveFloat = 0.05
    # Percentile the capacity search holds to the objectives.
    percentile: float = Field(default=99.0, gt=0, le=100)


_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_SLO_FORM = "KEY=VALUE pairs like ttft=1s,tpot=50ms (or ttft_p99=2s,tpot_p99=60ms)"


def _seconds(field: str, text: str) -> float:
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)]
            break
    else:
        unit, number = "s", text
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise InvalidInputError(field, text, "a duration like 2s, 60ms or 500us") from None
    if value <= 0:
        raise InvalidInputError(field, text, "a positive duration")
    return value


def parse_slo(text: str) -> SLO:
    """'ttft=1s,tpot=50ms' or 'ttft_p99=2s,tpot_p99=60ms' (the percentile in the keys)."""
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        name, _, percentile = key.strip().partition("_p")
        if not sep or name not in ("ttft", "tpot"):
            raise InvalidInputError("--slo", text, _SLO_FORM)
        values[name] = _seconds(f"--slo {key.strip()}", value.strip())
        if percentile:
            try:
                values["percentile"] = float(percentile)
            except ValueError:
                raise InvalidInputError("--slo", text, _SLO_FORM) from None
    if not {"ttft", "tpot"} & set(values):
        raise InvalidInputError("--slo", text, _SLO_FORM)
    return build(SLO, "--slo", **values)


def build(cls: type[BaseModel], field: str, **values: object) -> BaseModel:
    """Validate settings into `cls`; a bad value raises InvalidInputError naming it."""
    try:
        return cls(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or field
        value = values.get(name, err.get("input"))
        message = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
        raise InvalidInputError(name, value, message[:1].lower() + message[1:]) from None
