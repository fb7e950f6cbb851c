"""Whole prefill and decode steps of a real model: Hugging Face transformers builds it from the
config with random weights; steps run eagerly and replayed from CUDA graphs over a static KV
cache; peak device memory is read from PyTorch's allocator."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import torch

from rooflens.measure.timing import time_eager, time_graph

GQA_SDPA = "rooflens_sdpa_gqa"


def _sdpa_gqa(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention that reads each K/V head once (as FlashAttention and serving engines do).

    transformers' own SDPA path repeats K and V for every query head whenever it has a mask,
    which a static cache always brings. Here the cache holds exactly the step's keys, so the
    mask is the plain causal one (prefill) or none (one new token), and no mask is needed.
    """
    q_len, k_len = query.shape[2], key.shape[2]
    if q_len not in (1, k_len):
        raise ValueError("GQA attention expects a full cache: one new token, or a prefill")
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, is_causal=q_len > 1, scale=scaling, enable_gqa=True
    )
    return out.transpose(1, 2).contiguous(), None


def _register_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(GQA_SDPA, _sdpa_gqa)


def _kernel_time_by_profiler(fn: Any) -> float:
    """Sum of the GPU kernels' own durations in one call: the graph-replay time, should a
    model's forward refuse to be captured."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    total_us = sum(e.device_time_total for e in prof.key_averages() if e.device_time_total > 0)
    return total_us / 1e6


class ModelRunner:
    """A model built from its config.json, on `device`, with random weights, or loaded from
    `weights`, a local checkpoint folder; `attention` is a transformers attention
    implementation ("sdpa" for its stock one)."""

    def __init__(
        self,
        config: dict[str, Any],
        device: str,
        dtype: torch.dtype = torch.bfloat16,
        attention: str = GQA_SDPA,
        weights: str | None = None,
    ):
        from transformers import AutoConfig, AutoModelForCausalLM

        _register_attention()
        fields = {k: v for k, v in config.items() if k not in ("architectures", "auto_map")}
        model_type = fields.pop("model_type")
        self.config = AutoConfig.for_model(model_type, **fields)
        self.device, self.dtype = device, dtype
        if weights is not None:  # a local folder with a checkpoint: real weights
            model = AutoModelForCausalLM.from_pretrained(
                weights, dtype=dtype, attn_implementation=attention
            )
            self.model = model.to(device).eval()
            self.config = self.model.config
            return
        with torch.device(device):
            self.model = AutoModelForCausalLM.from_config(
                self.config, dtype=dtype, attn_implementation=attention
            ).eval()

    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def _step(self, batch: int, new_tokens: int, past: int):
        """A repeatable step: transformers' static cache advances its own fill counter on every
        call, so each call ends by winding the counters back (one fused kernel)."""
        from transformers import StaticCache

        cache = StaticCache(config=self.config, max_cache_len=past + new_tokens)
        ids = torch.randint(0, self.config.vocab_size, (batch, new_tokens), device=self.device)
        position = torch.arange(past, past + new_tokens, device=self.device)

        def forward() -> object:
            return self.model(
                ids,
                past_key_values=cache,
                cache_position=position,
                logits_to_keep=1,
                use_cache=True,
            ).logits

        forward()  # allocates the cache
        counters = [layer.cumulative_length for layer in cache.layers]
        for counter in counters:
            counter.fill_(past)

        def call() -> object:
            logits = forward()
            torch._foreach_sub_(counters, new_tokens)
            return logits

        return call

    def _release(self) -> None:
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()

    @torch.inference_mode()
    def run(
        self,
        batch: int,
        new_tokens: int,
        past: int,
        graphs: bool = True,
        before: Callable[[], object] | None = None,
    ) -> dict[str, Any]:
        """Time one step eagerly and (on a GPU) from a CUDA graph; measure peak memory.
        `before` runs ahead of each timed call (the processes of a sharded model meet)."""
        self._release()
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        call = self._step(batch, new_tokens, past)  # allocates the cache: the peak includes it
        result: dict[str, Any] = {"batch": batch, "new_tokens": new_tokens, "past": past}
        if self.device == "cuda":
            torch.cuda.synchronize()
            result["peak_memory"] = torch.cuda.max_memory_allocated()
        result["eager"] = time_eager(
            call, self.device, repeats=3 if new_tokens > 1 else 5, warmup=1, before=before
        )
        if self.device == "cuda" and graphs:
            try:
                result["graph"] = time_graph(
                    call, calls_per_graph=1, repeats=5, warmup=2, before=before
                )
                result["graph_method"] = "cuda-graph replay"
            except RuntimeError as exc:
                torch.cuda.synchronize()
                result["graph"] = _kernel_time_by_profiler(call)
                result["graph_method"] = f"kernel sum by profiler ({str(exc).splitlines()[0]})"
        del call
        self._release()
        return result
