"""Whole prefill and decode steps of a real model: Hugging Face transformers builds it from the
config with random weights; steps run eagerly and replayed from CUDA graphs over a static KV
cache; peak device memory is read from PyTorch's allocator."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from typing import Any

import torch
from huggingface_hub.errors import StrictDataclassError

from rooflens.core.errors import ModelConfigError
from rooflens.measure.timing import time_eager, time_graph

# transformers from 5.2x renames forward's `past_key_values` to `cache`, which the releases
# this extra supports (4.56 on) do not take: the old name stays, its warning is not the
# user's concern (it printed two lines under every `rooflens measure`).
warnings.filterwarnings("ignore", message="`past_key_values` is deprecated", category=FutureWarning)

# No "sdpa" in the name: transformers would then demand the model's own SDPA support, which
# Gemma-2 withholds for its logit soft-capping (see docs/measurement.md).
GQA_ATTENTION = "rooflens_gqa"
# The same attention, handed transformers' causal mask: DeepSeek Sparse Attention's indexer
# (DeepSeek-V3.2, GLM-5) masks its scores with it, and fails without one.
GQA_ATTENTION_MASKED = "rooflens_gqa_masked"


def _gqa_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    sliding_window: int | None = None,
    indices: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention that reads each K/V head once (as FlashAttention and serving engines do).

    transformers' own SDPA path repeats K and V for every query head whenever it has a mask,
    which a static cache always brings. The runner's cache holds exactly the keys a step
    attends (a windowed layer's decode cache holds the window), so a decode attends every key
    and a prefill is causal, banded to the window where the prompt is longer than it.
    Soft-capping of the logits (Gemma-2) is left out: FlashAttention applies it in registers.
    DSA's `indices` (batch, queries, top-k) name the keys each query attends: a decode gathers
    them (as FlashMLA's sparse kernel reads them); a prefill masks the others out.
    """
    q_len, k_len = query.shape[2], key.shape[2]
    if q_len not in (1, k_len):
        raise ValueError(
            f"attention of {q_len} new tokens over {k_len} keys: the runner measures a decode "
            "step (one new token) or a prefill into an empty cache"
        )
    if sliding_window is None:
        # Classes that hand their window to the mask alone (transformers' PhimoeAttention)
        # pass none here: the layer's window as layer_windows reads the config, set on the
        # module by ModelRunner.
        sliding_window = getattr(module, "rooflens_window", None)
    mask = None
    if q_len > 1 and sliding_window is not None and q_len > sliding_window:
        # Query i sees keys i - window < j <= i. A dense band mask: SDPA computes every score.
        rows = torch.arange(q_len, device=query.device)
        offset = rows[:, None] - rows[None, :]
        mask = (offset >= 0) & (offset < sliding_window)
    # Most keys one query of this layer attends: what attention_spans prices per layer.
    module.rooflens_keys = k_len if sliding_window is None else min(k_len, sliding_window)
    if indices is not None:
        module.rooflens_keys = min(k_len, indices.shape[-1])
        if q_len == 1:
            picked = indices[:, None, 0, :, None].long()  # (batch, 1, top-k, 1)
            key = key.gather(2, picked.expand(-1, key.shape[1], -1, key.shape[-1]))
            value = value.gather(2, picked.expand(-1, value.shape[1], -1, value.shape[-1]))
        else:
            selected = torch.zeros(query.shape[0], 1, q_len, k_len, dtype=torch.bool)
            mask = selected.to(query.device).scatter_(-1, indices[:, None].long(), True)
            if attention_mask is not None and attention_mask.dtype == torch.bool:
                mask &= attention_mask[..., :k_len]  # the indexer's top-k may reach ahead
            else:
                mask &= torch.ones(q_len, k_len, dtype=torch.bool, device=query.device).tril()
    out = torch.nn.functional.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=mask,
        is_causal=q_len > 1 and mask is None,
        scale=scaling,
        enable_gqa=True,
    )
    return out.transpose(1, 2).contiguous(), None


def _materialized_mask(*args: Any, **kwargs: Any) -> Any:
    """transformers' SDPA mask, always built (it skips a purely causal one)."""
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, **(kwargs | {"allow_is_causal_skip": False}))


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(GQA_ATTENTION, _gqa_attention)
    AttentionInterface.register(GQA_ATTENTION_MASKED, _gqa_attention)
    AttentionMaskInterface.register(GQA_ATTENTION_MASKED, _materialized_mask)


def _uses_sparse_attention(config: Any) -> bool:
    """DeepSeek Sparse Attention: transformers marks its layers "indexed_attention"."""
    return "indexed_attention" in (getattr(config, "layer_types", None) or ())


def layer_windows(config: Any) -> list[int | None]:
    """The sliding window of each decoder layer as transformers applies it: every layer's
    (Mistral, Phi-3), those `layer_types` marks sliding (Gemma-2, Qwen with the window on), or
    none."""
    layers = config.num_hidden_layers
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    if window is None:
        return [None] * layers
    if types is not None:
        return [window if kind == "sliding_attention" else None for kind in types]
    return [window] * layers


# Config names transformers no longer knows: the architecture they stand for, its defaults, and
# the fields renamed since (Falcon's first configs, "RefinedWeb").
_FALCON_FIELDS = {"n_head": "num_attention_heads", "n_layer": "num_hidden_layers"}
MODEL_TYPE_ALIASES = {
    "RefinedWebModel": ("falcon", {"new_decoder_architecture": False}, _FALCON_FIELDS),
    "RefinedWeb": ("falcon", {"new_decoder_architecture": True}, _FALCON_FIELDS),
    # Kimi K2 is DeepSeek-V3's architecture: its config.json names DeepseekV3ForCausalLM.
    "kimi_k2": ("deepseek_v3", {}, {}),
}


class _TextModelWithHead(torch.nn.Module):
    """A language model transformers ships only inside a multimodal one (Qwen3-VL's text
    model has no causal-LM class): its decoder and the vocabulary projection on the kept
    positions, which is what the multimodal model runs for text."""

    def __init__(self, config: Any, dtype: torch.dtype, attention: str):
        from transformers import AutoModel

        super().__init__()
        self.model = AutoModel.from_config(config, dtype=dtype, attn_implementation=attention)
        self.lm_head = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.lm_head.to(dtype)
        if getattr(config, "tie_word_embeddings", False):
            self.lm_head.weight = self.model.get_input_embeddings().weight

    def forward(self, input_ids: torch.Tensor, logits_to_keep: int = 0, **kwargs: Any) -> Any:
        from types import SimpleNamespace

        hidden = self.model(input_ids, **kwargs).last_hidden_state
        return SimpleNamespace(logits=self.lm_head(hidden[:, -logits_to_keep:]))


def _own_cache_class(config: Any, static: Any) -> Any:
    """The cache class a model insists on, holding `static`'s layers: MiniMax's forward takes
    only its MiniMaxCache (a dynamic cache with its lightning-attention states beside it)."""
    if config.model_type != "minimax":
        return static
    from transformers.models.minimax.modeling_minimax import MiniMaxCache

    cache = MiniMaxCache()
    cache.layers = static.layers
    cache.linear_cache = [None] * len(static.layers)  # no state yet: the first call builds it
    return cache


def _language_model_config(config: Any) -> Any:
    """The config of the model the steps run: a multimodal wrapper with no causal-LM class of
    its own (Qwen3-VL, Mistral 3) runs its language model alone, text in and logits out."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    text = config.get_text_config(decoder=True)
    if type(config) in MODEL_FOR_CAUSAL_LM_MAPPING or text is config:
        return config
    return text


def _build(config: Any, dtype: torch.dtype, attention: str) -> torch.nn.Module:
    """transformers' causal LM for `config`, or its text model with the vocabulary head."""
    import transformers
    from transformers import AutoModelForCausalLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_MAPPING

    if type(config) in MODEL_FOR_CAUSAL_LM_MAPPING:
        return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attention)
    if type(config) not in MODEL_MAPPING:
        # Step 3.7's language model (Step3p7TextConfig) is built only inside its wrapper.
        raise ModelConfigError(
            f"model_type {config.model_type!r} cannot be measured: transformers "
            f"{transformers.__version__} builds its language model ({type(config).__name__}) "
            "only inside its multimodal model"
        )
    return _TextModelWithHead(config, dtype, attention)


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


def transformers_config(config: dict[str, Any]) -> Any:
    """The transformers config object for a config.json's fields."""
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    fields = {k: v for k, v in config.items() if k not in ("architectures", "auto_map")}
    model_type = fields.pop("model_type")
    if model_type in MODEL_TYPE_ALIASES:
        model_type, defaults, renamed = MODEL_TYPE_ALIASES[model_type]
        fields = defaults | {renamed.get(k, k): v for k, v in fields.items()}
    refused = (
        f"model_type {model_type!r} cannot be measured: transformers {transformers.__version__}"
    )
    if model_type not in CONFIG_MAPPING:
        raise ModelConfigError(f"{refused} has no such architecture to build")
    try:
        return AutoConfig.for_model(model_type, **fields)
    except StrictDataclassError as exc:  # a field's type its config class does not accept
        reason = str(exc).splitlines()[-1].strip()
        raise ModelConfigError(f"{refused} refuses its config.json: {reason}") from exc


# Torch.compile's settings for the compiled engine: inductor's fused kernels replayed from CUDA
# graphs ("reduce-overhead"), what engines built on torch.compile run; it compiles in tens of
# seconds where "max-autotune" would benchmark GEMM configurations for minutes. Static shapes:
# each measured step is one shape.
COMPILE_MODE = "reduce-overhead"
COMPILE_OPTIONS: dict[str, Any] = {"mode": COMPILE_MODE, "dynamic": False}


class ModelRunner:
    """A model built from its config.json, on `device`, with random weights, or loaded from
    `weights`, a local checkpoint folder; `attention` is a transformers attention
    implementation ("sdpa" for its stock one): where a model class refuses the default one, its
    own SDPA, then eager, is used (`self.attention` says which). `compiled` runs the forward
    through torch.compile (COMPILE_OPTIONS)."""

    def __init__(
        self,
        config: dict[str, Any],
        device: str,
        dtype: torch.dtype = torch.bfloat16,
        attention: str = GQA_ATTENTION,
        weights: str | None = None,
        compiled: bool = False,
    ):
        from transformers import AutoModelForCausalLM

        _register_attention()
        self.config = transformers_config(config)
        self.device, self.dtype, self.compiled = device, dtype, compiled
        if weights is not None:  # a local folder with a checkpoint: real weights
            model = AutoModelForCausalLM.from_pretrained(
                weights, dtype=dtype, attn_implementation=attention
            )
            self.model = model.to(device).eval()
            self.config = self.model.config
            self.attention = attention
        else:
            self.config = _language_model_config(self.config)
            if attention == GQA_ATTENTION and _uses_sparse_attention(self.config):
                attention = GQA_ATTENTION_MASKED
            fallbacks = [attention] + [a for a in ("sdpa", "eager") if a != attention]
            for choice in fallbacks:
                try:
                    with torch.device(device):
                        self.model = _build(self.config, dtype, choice).eval()
                except (ValueError, KeyError):  # the class does not dispatch to this one
                    if choice == fallbacks[-1]:
                        raise
                    continue
                self.attention = choice
                break
        windows = layer_windows(self.config.get_text_config())
        for module in self.model.modules():
            index = getattr(module, "layer_idx", None)
            if isinstance(index, int) and 0 <= index < len(windows):
                module.rooflens_window = windows[index]
        self.forward = self.model.forward
        if compiled:
            # Models share transformers' forward code: without a reset the graphs compiled for
            # the models before count against dynamo's recompile limit, and past it the steps
            # silently run eagerly.
            torch._dynamo.reset()
            self.forward = torch.compile(self.model.forward, **COMPILE_OPTIONS)

    def model_class(self) -> str:
        """The transformers class that runs the steps (Kimi K2's is DeepSeek-V3's)."""
        if isinstance(self.model, _TextModelWithHead):
            return f"{type(self.model.model).__name__} with a vocabulary head"
        return type(self.model).__name__

    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def attended_keys(self) -> list[int]:
        """Most keys one query attended in each attention layer during the last step (the
        runner's own attention only; empty with transformers' attention)."""
        return [int(m.rooflens_keys) for m in self.model.modules() if hasattr(m, "rooflens_keys")]

    def _cache(self, new_tokens: int, past: int) -> Any:
        """transformers' static cache for this model (recurrent layers keep their own state
        classes, DSA layers their indexer keys), its plain attention layers sized to exactly
        the keys each attends: the whole sequence, or for a windowed layer's decode the window
        (the last token sees the window's keys only)."""
        from transformers import StaticCache

        total = past + new_tokens
        cache = StaticCache(config=self.config, max_cache_len=total)
        try:
            from transformers.cache_utils import StaticLayer, StaticSlidingWindowLayer
        except ImportError:  # a release without per-layer caches: its own, unsized
            return cache
        cache = _own_cache_class(self.config, cache)
        windows = layer_windows(self.config)
        if len(cache.layers) == len(windows):  # transformers' own sliding layers roll a copy
            plain = (StaticLayer, StaticSlidingWindowLayer)
            cache.layers = [
                StaticLayer(max_cache_len=total if past == 0 or w is None else min(total, w))
                if type(layer) in plain
                else layer
                for layer, w in zip(cache.layers, windows, strict=True)
            ]
        return cache

    def _step(self, batch: int, new_tokens: int, past: int):
        """A repeatable step: transformers' static cache advances its own fill counters on every
        call, so each call ends by winding the counters back (one fused kernel). A recurrent
        layer's state has no counter: each call advances it by the same work."""
        from transformers.cache_utils import StaticLayer

        cache = self._cache(new_tokens, past)
        ids = torch.randint(0, self.config.vocab_size, (batch, new_tokens), device=self.device)
        position = torch.arange(past, past + new_tokens, device=self.device)

        def forward(run: Callable[..., Any] = self.forward) -> object:
            return run(
                ids,
                past_key_values=cache,
                cache_position=position,
                logits_to_keep=1,
                use_cache=True,
            ).logits

        # Allocates the cache eagerly, so that its tensors are marked static before any
        # compiled call (CUDA graphs then replay on them in place).
        forward(self.model.forward)
        counters = []
        for layer in cache.layers:
            if not isinstance(layer, StaticLayer):
                continue
            start = layer.max_cache_len - new_tokens
            # A DSA layer's indexer keys have their own fill counter, as long as the cache.
            for name in ("cumulative_length", "indexer_cumulative_length"):
                counter = getattr(layer, name, None)
                if isinstance(counter, torch.Tensor):
                    counter.fill_(start)
                    counters.append(counter)

        # MiniMax keeps its lightning-attention states in a list beside the layers: a prefill
        # starts each call without them (with one, it would run as a token-by-token decode).
        states = getattr(cache, "linear_cache", None)
        restart = states is not None and past == 0

        def call() -> object:
            if restart:
                states[:] = [None] * len(states)
            logits = forward()
            torch._foreach_sub_(counters, new_tokens)
            return logits

        return call

    def _release(self) -> None:
        """Device memory of the last step back to the driver (a CPU run has nothing to free:
        a full collection there costs a second in a process holding transformers)."""
        if self.device == "cuda":
            gc.collect()
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
        if self.compiled:
            # reduce-overhead replays its own CUDA graphs, which cannot be captured again: the
            # step is timed by wall clock around the compiled call, after it has compiled.
            seconds = time_eager(call, self.device, repeats=10, warmup=3, before=before)
            method = f"torch.compile(mode={COMPILE_MODE!r}), wall clock per call"
            result |= {"eager": seconds, "graph": seconds, "graph_method": method}
        else:
            result["eager"] = time_eager(
                call, self.device, repeats=3 if new_tokens > 1 else 5, warmup=1, before=before
            )
        if self.device == "cuda" and graphs and not self.compiled:
            try:
                result["graph"] = time_graph(
                    call, calls_per_graph=1, repeats=5, warmup=2, before=before
                )
                result["graph_method"] = "cuda-graph replay"
            except RuntimeError as exc:
                torch.cuda.synchronize()
                result["graph"] = _kernel_time_by_profiler(call)
                result["graph_method"] = f"kernel sum by profiler ({str(exc).splitlines()[0]})"
        result["attention"] = self.attention
        result["model_class"] = self.model_class()
        keys = self.attended_keys()
        if keys:
            result["attended_keys"] = keys
        experts = getattr(self.config, "_experts_implementation", None)
        if experts is not None:
            result["experts_implementation"] = experts
        del call
        self._release()
        return result
