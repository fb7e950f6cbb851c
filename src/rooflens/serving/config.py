"""Settings of a simulated deployment: the scheduler of each replica and the cluster around it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt, model_validator

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
    max_batch: PositiveInt = 256
    # Tokens one iteration may process (vLLM's max_num_batched_tokens).
    max_tokens: PositiveInt = 8192
    # Most prompt tokens of one request in one iteration (chunked); None: the token budget.
    chunk_size: PositiveInt | None = None
    queue: Literal["fcfs", "spf"] = "fcfs"
    kv_layout: Literal["paged", "contiguous"] = "paged"
    block_size: PositiveInt = 16
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
    kv_link_bandwidth: PositiveFloat | None = None

    @model_validator(mode="after")
    def _check(self) -> ClusterConfig:
        if self.disaggregated and self.replicas != 1:
            raise ValueError(
                "a disaggregated cluster sizes its pools with prefill_replicas and "
                "decode_replicas; leave replicas at 1"
            )
        return self


class SLO(BaseModel):
    """Service-level objectives on time to first token and time per output token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttft: PositiveFloat = 1.0
    tpot: PositiveFloat = 0.05
    # Percentile the capacity search holds to the objectives.
    percentile: float = 99.0
