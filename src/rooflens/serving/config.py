"""Settings of a simulated deployment: the scheduler of each replica, the cluster around it, its
objectives, and the load the advisor sizes for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from rooflens.core.errors import (
    Declared,
    InvalidInputError,
    bound_accepted,
    bound_words,
    did_you_mean,
    refused,
    type_words,
)
from rooflens.core.speculative import ACCEPTANCE
from rooflens.settings import (
    MAX_DEVICES,
    MAX_TOKENS,
    accepted,
    as_choice,
    declared_number,
    option_name,
    setting,
    split_items,
)

Policy = Literal["static", "continuous", "chunked"]
# Step tables are sized by the scheduler's limits: bounded so that a typo is refused, not
# allocated. Replica counts and pool widths share the analyzer's bound on devices.
MAX_SEQUENCES = 1_000_000
MAX_STEP_TOKENS = 10_000_000
# Engines draft a few tokens per step (InferenceX's MTP runs: 1-3).
MAX_DRAFT_TOKENS = 16


class _Declared(Declared):
    """A declared description built by hand (SchedulerConfig(...), SLO(...)): a refused value
    says what its declaration accepts (rooflens.settings.accepted)."""

    @classmethod
    def refusal(cls, exc: ValidationError, given: Mapping[str, Any]) -> InvalidInputError:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else ""
        declared = err["type"] != "value_error" and name in cls.model_fields
        return refused(cls, exc, given, accepted(cls, name) if declared else None)


class _WordChoices(_Declared):
    """A description whose word choices read whatever their case (--queue SPF is spf,
    --router Round_Robin round_robin), and whose numbers are of their declared kind (no
    boolean as 1, no 8.0 as 8; numpy's as Python's), as the analysis' settings read theirs."""

    @field_validator("*", mode="before")
    @classmethod
    def _as_declared(cls, value: object, info: ValidationInfo) -> object:
        name = str(info.field_name)
        return as_choice(cls.model_fields[name].annotation, declared_number(cls, name, value))


class SchedulerConfig(_WordChoices):
    """How one replica batches requests (docs/serving.md gives each rule and its source).

    static      request-level batches run to completion (FasterTransformer);
    continuous  iteration-level batching, whole prompts in prefill-only iterations that pause
                decoding (Orca's scheduling as vLLM runs it by default);
    chunked     every iteration carries all decodes plus prompt chunks up to a token budget
                (SARATHI; vLLM chunked prefill; DeepSpeed-FastGen's SplitFuse).

    Each field is declared once here; `rooflens simulate`'s options and the web form's
    fields are derived from it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    policy: Policy = setting(
        "continuous",
        "Scheduler",
        "policy",
        "Batching: static, continuous (Orca/vLLM) or chunked (SARATHI).",
        flag="scheduler",
    )
    max_batch: int = setting(
        256, "Scheduler", "max batch", "Most sequences per iteration.", ge=1, le=MAX_SEQUENCES
    )
    # SGLang sizes its request pool, max_running_requests, from the KV pool
    # (rooflens.engines.sglang.request_pool).
    request_pool: bool = setting(
        False,
        "Scheduler",
        "request pool",
        "Hold the batch also to a request pool sized from the KV cache: its tokens / the "
        "model's positions x 512, within 2,048-4,096 and at most half its tokens (SGLang's "
        "max_running_requests when not given).",
    )
    # SGLang's mamba pool (model_runner handle_max_mamba_cache, init_memory_pool, v0.5.9).
    state_pool: bool = setting(
        False,
        "KV memory",
        "state pool",
        "Hybrid recurrent models: the states in a pool of their own, 0.9 / 1.9 of the memory "
        "the KV cache would take (max batch states, where given without prefix sharing), the "
        "running requests at most its slots (a third of them with prefix sharing) (SGLang's "
        "mamba pool).",
    )
    # vLLM's hybrid KV cache manager (vllm/v1/core/kv_cache_utils.py; rooflens.engines.vllm).
    kv_groups: bool = setting(
        False,
        "KV memory",
        "KV groups",
        "Models with window layers: each kind of attention layer holds KV blocks for whole "
        "groups of layers, as many as the fewest any kind has, its last group padded (vLLM's "
        "hybrid KV cache manager: Gemma 3 27B's 52 window layers hold 60 layers' worth).",
    )
    # vLLM's max_num_batched_tokens.
    max_tokens: int = setting(
        8192,
        "Scheduler",
        "tokens per step",
        "Most tokens one iteration may process; continuous with a chunk size: the prompt "
        "tokens within which another whole prompt may join a prefill iteration (SGLang's "
        "max_prefill_tokens).",
        ge=1,
        le=MAX_STEP_TOKENS,
    )
    chunk_size: int | None = setting(
        None,
        "Scheduler",
        "chunk size",
        "Chunked: most prompt tokens of one request per iteration; continuous (SGLang's "
        "chunked_prefill_size): most prompt tokens of one prefill iteration, the token budget "
        "then only deciding whether another whole prompt joins; empty: the token budget.",
        ge=1,
        le=MAX_STEP_TOKENS,
    )
    split_prompts: bool = setting(
        True,
        "Scheduler",
        "split prompts",
        "Chunked: cut a prompt to fit an iteration's remaining tokens; off: a prompt joins an "
        "iteration only whole, one longer than the budget alone (TensorRT-LLM without "
        "enable_chunked_prefill).",
    )
    queue: Literal["fcfs", "spf"] = setting(
        "fcfs", "Scheduler", "queue", "First come first served, or shortest prompt first."
    )
    kv_layout: Literal["paged", "contiguous"] = setting(
        "paged", "KV memory", "KV layout", "Paged blocks, or contiguous at the maximum length."
    )
    block_size: int = setting(
        16, "KV memory", "block (tokens)", "Paged KV: tokens per block.", ge=1, le=MAX_TOKENS
    )
    max_len: int | None = setting(
        None,
        "KV memory",
        "max length",
        "Most tokens a request may reach, prompt and output (vLLM's max_model_len); "
        "contiguous KV: also the tokens reserved per request; empty: the model's maximum.",
        ge=1,
        le=MAX_TOKENS,
    )
    preemption: Literal["recompute", "swap"] = setting(
        "recompute", "KV memory", "preemption", "When blocks run out: recompute, or swap to host."
    )
    prefix_sharing: bool = setting(
        False, "KV memory", "prefix sharing", "Cache the prompts' shared prefix once."
    )
    # SGLang's --scheduler-recv-interval (managers/scheduler_recv_skipper.py).
    receive_interval: int = setting(
        1,
        "Scheduler",
        "receive interval",
        "Decode iterations between looks for new requests; a prefill iteration or an idle "
        "replica looks at once (SGLang's --scheduler-recv-interval).",
        ge=1,
        le=MAX_SEQUENCES,
    )
    # SGLang's --enable-mixed-chunk (managers/scheduler.py get_new_batch_prefill mixes the
    # running batch into the prefill batch; schedule_policy.py PrefillAdder takes its size,
    # mixed_with_decode_tokens, off both budgets).
    mixed_chunk: bool = setting(
        False,
        "Scheduler",
        "mixed chunk",
        "Continuous with a chunk size: a prefill iteration also decodes the running requests, "
        "each taking its token (and drafts) off the chunk size and off the prompt tokens "
        "within which another prompt may join (SGLang's --enable-mixed-chunk).",
    )
    # SGLang's overlap schedule (managers/scheduler.py, event_loop_overlap), vLLM's async
    # scheduling (v1/core/sched/async_scheduler.py) and TensorRT-LLM's overlap scheduler
    # (_torch/pyexecutor/py_executor.py, _executor_loop_overlap): the scheduler forms the next
    # batch and launches it before it waits for the one on the device.
    overlap: bool = setting(
        False,
        "Scheduler",
        "overlap schedule",
        "Form each iteration while the one before runs: a request reaching a busy replica "
        "joins the iteration after the next (SGLang's overlap schedule, vLLM's async "
        "scheduling, TensorRT-LLM's overlap scheduler).",
    )
    # SGLang's overlap loop forms the next decode batch before it reads which requests the
    # last one finished (managers/scheduler_output_processor_mixin.py frees their "one extra
    # delayed token"); vLLM's scheduler and TensorRT-LLM's skip a request they know reaches
    # its length limit (v1/core/sched/scheduler.py; will_complete_next_iteration).
    finished_step: bool = setting(
        False,
        "Scheduler",
        "step after finishing",
        "Overlap schedule: a request that finished still takes one more decode step unless "
        "prompts take that iteration, and a replica whose requests all finished runs it "
        "before it takes the next (SGLang's overlap schedule).",
    )
    # TensorRT-LLM's batch_wait_timeout_iters and batch_wait_max_tokens_ratio
    # (_torch/pyexecutor/py_executor.py, PyExecutor._waiting_requests).
    batch_wait_iterations: int = setting(
        0,
        "Scheduler",
        "batch wait (iterations)",
        "Chunked: while requests decode, hold new prompts back for up to this many iterations "
        "(TensorRT-LLM's batch_wait_timeout_iters; 0: never; set with batch_wait_ratio).",
        ge=0,
        le=MAX_SEQUENCES,
    )
    batch_wait_ratio: float = setting(
        0.0,
        "Scheduler",
        "batch wait (token share)",
        "Chunked: held prompts go once their tokens and the decodes reach this share of the "
        "token budget (TensorRT-LLM's batch_wait_max_tokens_ratio; 0: never held).",
        ge=0.0,
        le=1.0,
        # Checked beside batch_wait_iterations even where left at 0 (_batch_wait_together).
        validate_default=True,
    )

    # TensorRT-LLM's attention_dp_config (enable_balance, timeout_iters, batching_wait_iters;
    # _torch/pyexecutor/py_executor.py, PyExecutor._balance_adp_requests).
    dp_balance: bool = setting(
        False,
        "Scheduler",
        "DP balance",
        "Chunked: the replicas are one engine's attention-DP ranks, which let new prompts go "
        "when every rank has one waiting, after the timeout, or while a rank generates "
        "nothing (TensorRT-LLM's attention_dp_config.enable_balance).",
    )
    dp_balance_timeout: int = setting(
        50,
        "Scheduler",
        "DP balance timeout",
        "DP balance: iterations before new prompts go anyway (TensorRT-LLM's timeout_iters).",
        ge=1,
        le=MAX_SEQUENCES,
    )
    dp_balance_wait: int = setting(
        10,
        "Scheduler",
        "DP balance wait",
        "DP balance: iterations prompts still wait once every rank has one, while every rank "
        "generates (TensorRT-LLM's batching_wait_iters).",
        ge=0,
        le=MAX_SEQUENCES,
    )
    # Speculative decoding with the model's own multi-token-prediction module (DeepSeek-V3,
    # GLM-4.5 and 5, MiniMax-M3, Qwen3.5): SGLang's --speculative-num-steps, TensorRT-LLM's
    # num_nextn_predict_layers, vLLM's num_speculative_tokens.
    draft_tokens: int = setting(
        0,
        "Speculation",
        "MTP draft tokens",
        "Speculative decoding: tokens the model's MTP module drafts per step, one at a time, "
        "verified together by the next step (0: none).",
        ge=0,
        le=MAX_DRAFT_TOKENS,
    )
    # The analyzer's default acceptance (core.speculative.ACCEPTANCE, where its source is).
    acceptance: float = setting(
        ACCEPTANCE,
        "Speculation",
        "acceptance",
        "Speculative decoding: the chance a drafted token is accepted once the ones before it "
        "were (DeepSeek-V3 reports 85-90 % for its MTP module's first).",
        ge=0.0,
        le=1.0,
    )

    @field_validator("draft_tokens")
    @classmethod
    def _drafts_only_with_iteration_batching(cls, value: int, info: ValidationInfo) -> int:
        if value and info.data.get("policy") == "static":
            raise ValueError("0 with policy=static (drafts are verified iteration by iteration)")
        return value

    @field_validator("batch_wait_ratio")
    @classmethod
    def _batch_wait_together(cls, value: float, info: ValidationInfo) -> float:
        # TensorRT-LLM holds prompts back only while both limits are set (_waiting_requests
        # stops waiting once either is reached, and a limit of 0 is reached at once): one
        # alone would be silently ignored.
        iterations = info.data.get("batch_wait_iterations", 0)
        if iterations and not value:
            raise ValueError(
                f"above 0 with batch_wait_iterations={iterations} (prompts are held back only "
                "while both are set)"
            )
        if value and not iterations:
            raise ValueError(
                "0 without batch_wait_iterations above 0 (prompts are held back only while "
                "both are set)"
            )
        return value

    @field_validator("dp_balance_timeout", "dp_balance_wait")
    @classmethod
    def _balance_settings_with_balance(cls, value: int, info: ValidationInfo) -> int:
        # Checked only where given, and away from its default (a scheduler's fields given
        # back as they were, its preset's say, read the same): without dp_balance nothing
        # reads them.
        default = cls.model_fields[str(info.field_name)].default
        if value != default and not info.data.get("dp_balance"):
            raise ValueError("left out without dp_balance (they time its waits)")
        return value

    @field_validator("acceptance")
    @classmethod
    def _acceptance_with_drafts(cls, value: float, info: ValidationInfo) -> float:
        # Checked only where given, and away from its default (a scheduler's fields given back
        # as they were read the same): an acceptance nothing drafts would be silently ignored.
        if value != cls.model_fields["acceptance"].default and not info.data.get("draft_tokens"):
            raise ValueError("left out without draft_tokens (the drafts it accepts)")
        return value

    @property
    def decode_tokens(self) -> int:
        """Tokens a decoding sequence takes of an iteration: its next one and its drafts,
        verified together, as vLLM's scheduler (schedule: num_new_tokens off token_budget)
        and TensorRT-LLM's micro-batch scheduler (beam width + draft tokens against
        max_num_tokens) count them; its KV blocks hold room for them all the step long
        (vLLM's lookahead slots)."""
        return 1 + self.draft_tokens

    @property
    def chunk(self) -> int:
        return min(self.chunk_size or self.max_tokens, self.max_tokens)

    @property
    def prompt_chunk(self) -> int | None:
        """The most tokens of one prompt an iteration runs, as the engine cuts prompts: None
        where they run whole (static batching, whole_prompts), the chunk size where the
        token budget bounds only which prompts join (budgets_prompts_only), else `chunk`."""
        if self.policy == "static" or self.whole_prompts:
            return None
        return self.chunk_size if self.budgets_prompts_only else self.chunk

    @property
    def budgets_prompts_only(self) -> bool:
        """Whether max_tokens bounds only which prompts join a prefill iteration, not the
        decodes (continuous with a chunk size: SGLang's max_prefill_tokens, which it accepts
        below max_running_requests)."""
        return self.policy == "continuous" and self.chunk_size is not None

    @property
    def mixes_decodes(self) -> bool:
        """Whether a prefill iteration also decodes the running requests (`mixed_chunk`,
        which only continuous batching with a chunk size reads)."""
        return self.mixed_chunk and self.budgets_prompts_only

    @property
    def whole_prompts(self) -> bool:
        """Whether a prompt joins an iteration only whole, one longer than the token budget
        alone (continuous without a chunk size; chunked without splitting prompts)."""
        if self.policy == "continuous":
            return self.chunk_size is None
        return self.policy == "chunked" and not self.split_prompts

    @property
    def iteration_tokens(self) -> int:
        """The most tokens one iteration may process: max_tokens, or, where that budgets
        prompts only, the larger of a prefill batch and the batch's decodes. A prefill batch
        holds at most the chunk size (SGLang's PrefillAdder spends chunked_prefill_size on
        every prompt it adds, not only on one it cuts: 8,192 tokens an iteration on an H100
        beside max_prefill_tokens 16,384), and its first prompt may pass max_tokens up to
        the chunk size."""
        if self.budgets_prompts_only:
            return max(self.chunk_size or self.max_tokens, self.max_batch)
        return self.max_tokens

    @property
    def iteration_knob(self) -> str:
        """The setting that bounds `iteration_tokens` (what a refusal tells one to lower)."""
        if not self.budgets_prompts_only:
            return "max_tokens"
        return "max_batch" if self.max_batch > (self.chunk_size or 0) else "chunk_size"


def _pool_width(pool: str, axis: str) -> Any:
    """The declaration of one disaggregated pool's tensor or expert parallelism."""
    name = {"tp": "TP", "ep": "EP", "moe_tp": "MoE TP"}[axis]
    return setting(
        None, "Cluster", f"{pool} {name}", f"Disaggregated: {pool} pool's {name}; empty: {axis}.",
        ge=1, le=MAX_DEVICES,
    )  # fmt: skip


class ClusterConfig(_WordChoices):
    """Replicas behind a router, or separate prefill and decode pools (disaggregation, as in
    DistServe and Splitwise) handing each request's KV cache over a link."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    replicas: int = setting(
        1, "Cluster", "replicas", "Replicas behind the router.", ge=1, le=MAX_DEVICES
    )
    router: Literal["round_robin", "least_outstanding"] = setting(
        "round_robin", "Cluster", "router", "Round robin, or least outstanding requests."
    )
    disaggregated: bool = setting(
        False, "Cluster", "disaggregated", "Separate prefill and decode pools (DistServe)."
    )
    prefill_replicas: int = setting(
        1, "Cluster", "prefill replicas", "Disaggregated: prefill pool.", ge=1, le=MAX_DEVICES
    )
    decode_replicas: int = setting(
        1, "Cluster", "decode replicas", "Disaggregated: decode pool.", ge=1, le=MAX_DEVICES
    )
    # At least 1 MB/s: slower, a hand-over's time overflows (1e-300 B/s once crashed a run).
    kv_link_bandwidth: float | None = setting(
        None,
        "Cluster",
        "KV link (B/s)",
        "Disaggregated: the KV hand-over link in bytes/s; empty: the device's interconnect "
        "(else its network link).",
        ge=1e6,
        le=1e16,
    )
    # Each pool's tensor and expert parallelism; None: the analyzer options' tp and ep.
    prefill_tp: int | None = _pool_width("prefill", "tp")
    prefill_ep: int | None = _pool_width("prefill", "ep")
    decode_tp: int | None = _pool_width("decode", "tp")
    decode_ep: int | None = _pool_width("decode", "ep")
    # A pool whose experts share its tp group while the other pool's spread over attention
    # groups (SGLang's and Dynamo's prefill at --tp 8 --ep 8 beside decode ranks of DP
    # attention); None: as the analyzer options' moe_tp.
    prefill_moe_tp: int | None = _pool_width("prefill", "moe_tp")
    decode_moe_tp: int | None = _pool_width("decode", "moe_tp")

    @field_validator("disaggregated")
    @classmethod
    def _one_replica_when_disaggregated(cls, value: bool, info: ValidationInfo) -> bool:
        replicas = info.data.get("replicas", 1)
        if value and replicas != 1:
            raise ValueError(
                f"false with replicas={replicas}: a disaggregated cluster sizes its pools with "
                "prefill_replicas and decode_replicas (leave replicas at 1)"
            )
        return value

    @field_validator(
        "prefill_tp", "prefill_ep", "decode_tp", "decode_ep", "prefill_moe_tp", "decode_moe_tp"
    )
    @classmethod
    def _pools_only_when_disaggregated(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("disaggregated", False):
            raise ValueError("empty unless disaggregated (it sizes a disaggregated pool)")
        return value

    @field_validator("prefill_replicas", "decode_replicas", "kv_link_bandwidth")
    @classmethod
    def _hand_over_only_when_disaggregated(cls, value: object, info: ValidationInfo) -> object:
        # Stated and read by nothing otherwise: refused, as a pool's width is.
        default = cls.model_fields[info.field_name].default  # type: ignore[index]
        if value != default and not info.data.get("disaggregated", False):
            return_to = "1" if default == 1 else "empty"
            raise ValueError(f"{return_to} unless disaggregated (it sizes a disaggregated cluster)")
        return value


class SLO(_Declared):
    """Service-level objectives on time to first token and time per output token."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    ttft: float = setting(1.0, "SLO", "TTFT objective (s)", "Time to first token.", gt=0, le=1e5)
    tpot: float = setting(0.05, "SLO", "TPOT objective (s)", "Time per output token.", gt=0, le=1e3)
    # Percentile the capacity search holds to the objectives.
    percentile: float = setting(99.0, "SLO", "percentile", "Held to the objectives.", gt=0, le=100)


class Target(_Declared):
    """The load to serve: requests per second with prompts and answers of these lengths (each
    field declared once here; `rooflens advise --workload` and the web form derive from it)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    prompt_len: int = setting(1000, "Load", "prompt tokens", "Mean prompt.", ge=1, le=MAX_TOKENS)
    output_len: int = setting(300, "Load", "output tokens", "Mean answer.", ge=1, le=MAX_TOKENS)
    # At most a billion requests/s: the replica count must stay an integer.
    rate: float = setting(10.0, "Load", "rate (req/s)", "Requests per second.", gt=0, le=1e9)


# The objectives `rooflens advise` and the advisor page hold a setup to unless told others.
ADVISE_SLO = SLO(ttft=2.0, tpot=0.06)


_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_SLO_FORM = "KEY=VALUE pairs like ttft=1s,tpot=50ms (or ttft_p99=2s,tpot_p99=60ms)"


def _seconds(field: str, text: str) -> float:
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)]
            break
    else:
        # A bare number could mean seconds or milliseconds ("tpot=50" was read as 50 s).
        raise InvalidInputError(field, text, "a duration with its unit, like 2s, 60ms or 500us")
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise InvalidInputError(field, text, "a duration like 2s, 60ms or 500us") from None
    if value <= 0:
        raise InvalidInputError(field, text, "a positive duration")
    return value


def slo_text(slo: SLO) -> str:
    """The objectives as parse_slo reads them ('ttft_p99=2s,tpot_p99=60ms'), each duration in
    the largest of its units that keeps it at least 1."""

    def duration(seconds: float) -> str:
        for unit in ("s", "ms"):
            if seconds >= _UNITS[unit]:
                return f"{seconds / _UNITS[unit]:g}{unit}"
        return f"{seconds / _UNITS['us']:g}us"

    p = f"{slo.percentile:g}"
    return f"ttft_p{p}={duration(slo.ttft)},tpot_p{p}={duration(slo.tpot)}"


def key_value_items(flag: str, text: str, form: str) -> tuple[str, ...]:
    """The KEY=VALUE items of a comma list. An empty item (two commas together, or one at an
    end) is refused, as every list setting refuses one (`split_items`): it was skipped, and
    a pair left out went unsaid."""
    try:
        items = split_items(text)
    except ValueError as exc:
        raise InvalidInputError(flag, text, f"{form}, without {exc}") from None
    return tuple(str(item) for item in items)  # type: ignore[union-attr]


def parse_slo(text: str, default: SLO | None = None) -> SLO:
    """'ttft=1s,tpot=50ms' or 'ttft_p99=2s,tpot_p99=60ms' (the percentile in the keys); what
    the text leaves out is `default`'s (SLO's own defaults without one)."""
    values: dict[str, float] = {}
    for item in key_value_items("--slo", text, _SLO_FORM):
        key, sep, value = item.partition("=")
        name, _, percentile = key.strip().partition("_p")
        if not sep or name not in ("ttft", "tpot"):
            # The item itself, which names the key refused ('tft=1s'), with its likely fix.
            known = "" if name in ("ttft", "tpot") else did_you_mean(name, ("ttft", "tpot"))
            raise InvalidInputError("--slo", item, f"ttft or tpot as KEY{known}, in {_SLO_FORM}")
        if name in values:  # the last had silently won
            raise InvalidInputError("--slo", text, f"{name} given once")
        values[name] = _seconds(f"--slo {key.strip()}", value.strip())
        if percentile:
            try:
                held = float(percentile)
            except ValueError:
                raise InvalidInputError("--slo", text, _SLO_FORM) from None
            if values.get("percentile", held) != held:  # one is held to both objectives
                raise InvalidInputError("--slo", text, "one percentile for both objectives")
            if not 0 < held <= 100:  # named as typed, not as the SLO's percentile field
                raise InvalidInputError("--slo", text, f"a percentile in (0, 100] in {key!r}")
            values["percentile"] = held
    if not {"ttft", "tpot"} & set(values):
        raise InvalidInputError("--slo", text, _SLO_FORM)
    base = default.model_dump() if default is not None else {}
    return build(SLO, "--slo", **(base | values))


def build(cls: type[BaseModel], field: str, *, flags: bool = False, **values: object) -> Any:
    """Validate settings into `cls`; a bad value raises InvalidInputError naming it (`flags`:
    a field whose command-line option has another name by that name, as typed)."""
    try:
        # Validated as pydantic reports it (a hand-built model's constructor raises the typed
        # error already), so that a flag is named as typed.
        return cls.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or field
        value = values.get(name, err.get("input"))
        message = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
        if bound_words(err) is not None:  # in the words the other refusals use
            message = bound_accepted(err)
        elif type_words(err) is not None:
            message = str(type_words(err))
        if flags and name in cls.model_fields:
            name = option_name(cls, name)
        raise InvalidInputError(name, value, message[:1].lower() + message[1:]) from None
