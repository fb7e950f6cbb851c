"""Hugging Face config.json -> ModelSpec, one reader per supported model_type.

Where a config omits a field, the default of that model's transformers config class applies
(the config means exactly that); the structural sizes have no default and must be present.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
from pydantic import ValidationError

from rooflens.core.errors import ModelConfigError, type_words
from rooflens.core.model import MAX_LAYERS, MAX_WIDTH, MODULE_CLASSES, ModelSpec

# What a field read with a default of this type must hold; "an integer" is never a string
# ("14" once became 1414 through arithmetic) nor a boolean.
_KINDS: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a finite number",
    list: "a JSON array",
    dict: "a JSON object",
}


def _is_kind(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and math.isfinite(value)
    return isinstance(value, kind)


class _Config:
    """Read access to a config dict whose errors name the model type and field. Values are
    checked against the type they are read as: nothing is converted or guessed."""

    def __init__(self, raw: Mapping[str, Any], model_type: str, path: str = "") -> None:
        # `path`: where `raw` sits in config.json ("sparse_attention_config."), which errors
        # write before each key.
        self.raw, self.model_type, self.path = raw, model_type, path

    def section(self, key: str) -> _Config:
        """The object nested under `key` (empty where absent), read with errors that name
        its keys as `key.inner`."""
        return _Config(self.get(key, {}), self.model_type, f"{self.path}{key}.")

    def _checked(self, key: str, value: Any, kind: type | None) -> Any:
        if kind is not None and not _is_kind(value, kind):
            raise ModelConfigError(
                f"config.json of model_type {self.model_type!r}: {self.path}{key}={value!r} is "
                f"invalid: expected {_KINDS[kind]}"
            )
        return value

    def req(self, *keys: str, kind: type = int) -> Any:
        """The first of `keys` present, which must be of `kind` (sizes: an integer)."""
        for key in keys:
            if self.raw.get(key) is not None:
                return self._checked(key, self.raw[key], kind)
        names = " or ".join(repr(f"{self.path}{k}") for k in keys)
        raise ModelConfigError(f"config.json of model_type {self.model_type!r} lacks {names}")

    def get(self, key: str, default: Any) -> Any:
        """`key`, or `default` where absent; present, it must be of the default's type (a
        float default takes integers too; a text default, such as "auto", is not checked)."""
        value = self.raw.get(key)
        if value is None:
            return default
        kind = next((k for k in _KINDS if type(default) is k), None)
        return self._checked(key, value, kind)

    def positive(self, key: str, default: int | None = None, maximum: int | None = None) -> int:
        """`key` (required where `default` is None), an integer of at least 1: a count, a
        size or a period that the reader divides or steps by; at most `maximum` where given
        (ModelSpec's MAX_WIDTH or MAX_COUNT for a value it holds under another name, whose
        refusal would name that)."""
        value = self.req(key) if default is None else self.get(key, default)
        if value < 1 or (maximum is not None and value > maximum):
            most = "" if maximum is None else f" of at most {maximum:,}"
            raise ModelConfigError(
                f"config.json of model_type {self.model_type!r}: {self.path}{key}={value!r} is "
                f"invalid: expected a positive integer{most}"
            )
        return value

    def count(self, key: str, default: int = 0) -> int:
        """`key`, or `default` where absent: a number of modules (MTP layers, shared experts),
        0 or more; a negative count was read as none, and one past MAX_LAYERS multiplied into
        a footprint of exabytes."""
        value = self.get(key, default)
        if value < 0:
            raise ModelConfigError(
                f"config.json of model_type {self.model_type!r}: {self.path}{key}={value!r} is "
                "invalid: expected an integer of at least 0"
            )
        if value > MAX_LAYERS:
            raise ModelConfigError(
                f"config.json of model_type {self.model_type!r}: {self.path}{key}={value!r} is "
                f"invalid: expected at most {MAX_LAYERS:,}"
            )
        return value

    def layer_flags(
        self, key: str, flags: object, layers: int, meaning: str = "0 or 1"
    ) -> list[int]:
        """A per-layer list (`key`'s value `flags`, or a default the reader derived): one JSON
        integer 0 or 1 for each of `layers` layers; 1.0 or true is not a flag (1.0 made a
        layer count a float), and `meaning` says what each stands for in the refusal."""
        if (
            not isinstance(flags, list)
            or len(flags) != layers
            or any(type(f) is not int or f not in (0, 1) for f in flags)
        ):
            raise ModelConfigError(
                f"config.json of model_type {self.model_type!r}: {self.path}{key}={flags!r} is "
                f"invalid: expected {meaning} for each of the {layers} layers"
            )
        return flags

    def built(self, part: Callable[..., Any], keys: Mapping[str, str], /, **fields: Any) -> Any:
        """`part(**fields)`, a part of the model (a recurrent mixer, a vision tower) whose
        fields `keys` maps to the config.json keys they were read from, which its refusal
        names in their place."""

        def spelled(text: str) -> str:
            for field, key in keys.items():
                text = re.sub(rf"\b{field}\b", key, text)
            return text

        try:
            return part(**fields)
        except ValidationError as exc:
            where = f"config.json of model_type {self.model_type!r}"
            raise _refused(where, exc, spelled) from None

    def per_head(
        self,
        hidden: int,
        heads: int,
        field: str = "hidden_size",
        heads_key: str = "num_attention_heads",
    ) -> int:
        """The head width a config without `head_dim` implies: `hidden` split evenly over
        `heads` (read from `heads_key`); a split that leaves a remainder is refused rather
        than rounded."""
        if hidden < 1:
            raise ModelConfigError(
                f"config.json of model_type {self.model_type!r}: {self.path}{field}={hidden!r} "
                "is invalid: expected a positive integer"
            )
        if heads < 1 or hidden % heads:
            raise ModelConfigError(
                f"config.json of model_type {self.model_type!r}: {self.path}{field}={hidden} "
                f"does not split into {self.path}{heads_key}={heads} heads: expected a "
                "positive head count dividing it, or an explicit head_dim"
            )
        return hidden // heads

    def head_dim(self, hidden: int, heads: int, keys: tuple[str, ...] = ("head_dim",)) -> int:
        """The first of `keys` the config writes (a positive width, refused under its own
        name past ModelSpec's MAX_WIDTH), else the even split of `hidden` over `heads`."""
        for key in keys:
            if self.raw.get(key) is not None:
                return self.positive(key, maximum=MAX_WIDTH)
        return self.per_head(hidden, heads)


# The keys `_llama_like` reads that many families' transformers config classes do not declare
# (LlamaConfig declares the two biases, not the window), and, for a family whose class lacks
# the key, what transformers and vLLM build where a config sets it.
UNDECLARED_KEYS = {
    "attention_bias": "transformers builds q/k/v/o without a bias, vLLM's model with one",
    "mlp_bias": "transformers builds the MLP without a bias, vLLM's model with one",
    "sliding_window": (
        "transformers' attention sees every key, while its DynamicCache keeps only the window "
        "and vLLM's attention takes it for every layer that names no window of its own"
    ),
}


def refuse_undeclared(c: _Config, keys: Collection[str]) -> None:
    """Refuse any of `keys` (of UNDECLARED_KEYS) set: the family's transformers config class
    does not declare it, so transformers ignores it, while the model vLLM serves the family
    with reads it; the checkpoint's model is not known."""
    for key in keys:
        value = c.raw.get(key)
        if value is None or value is False:
            continue
        accepted = "null" if key == "sliding_window" else "false"
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {key}={value!r} is not supported; "
            f"supported: {accepted} or absent (its transformers config class has no {key}: "
            f"{UNDECLARED_KEYS[key]})"
        )


def _llama_like(
    c: _Config,
    name: str,
    *,
    ignored: Collection[str] = (),
    refused: Collection[str] = (),
    **overrides: Any,
) -> ModelSpec:
    """Llama's block read from `c`, with `overrides` for the fields a family reads otherwise.
    `ignored` and `refused` name keys of UNDECLARED_KEYS that the family's transformers config
    class does not declare: an ignored key is not read (neither transformers nor vLLM reads it
    for the family), a refused one is refused where set (refuse_undeclared)."""
    unread = set(ignored) | set(refused)
    if unread - UNDECLARED_KEYS.keys() or set(ignored) & set(refused):
        raise ValueError(f"_llama_like: ignored={ignored!r}, refused={refused!r}")
    refuse_undeclared(c, refused)
    heads = c.req("num_attention_heads")
    hidden = c.req("hidden_size")
    # An override (Gemma's 256, MLA's nope + rope) stands for the config's own head_dim.
    head_dim = overrides.pop("head_dim") if "head_dim" in overrides else c.head_dim(hidden, heads)
    fields: dict[str, Any] = dict(
        name=name,
        model_type=c.model_type,
        num_layers=c.req("num_hidden_layers"),
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=c.get("num_key_value_heads", heads),
        head_dim=head_dim,
        intermediate_size=c.req("intermediate_size"),
        vocab_size=c.req("vocab_size"),
        max_positions=c.get("max_position_embeddings", 2048),
        tied_embeddings=c.get("tie_word_embeddings", False),
        gated_mlp=True,
        activation=c.get("hidden_act", "silu"),
        norm="rmsnorm",
        qkv_bias=False if "attention_bias" in unread else c.get("attention_bias", False),
        out_bias=False if "attention_bias" in unread else c.get("attention_bias", False),
        mlp_bias=False if "mlp_bias" in unread else c.get("mlp_bias", False),
        sliding_window=None if "sliding_window" in unread else c.raw.get("sliding_window"),
    )
    fields.update(overrides)
    return _spec(fields)


def layer_counts(
    c: _Config, kinds: object, field: str, accepted: Collection[str]
) -> dict[str, int]:
    """How many of the `num_hidden_layers` layers a per-layer list (`layer_types`) gives each
    of the `accepted` kinds. Any other entry is refused: counting only the kinds known read
    a misspelt one ("sliding_window" for "sliding_attention") as full attention."""
    layers = c.req("num_hidden_layers")
    where = f"config.json of model_type {c.model_type!r}"
    if not isinstance(kinds, list):
        raise ModelConfigError(
            f"{where}: {field}={kinds!r} is invalid: expected a JSON array of {layers} entries "
            f"among {sorted(accepted)}"
        )
    unknown = sorted({repr(k) for k in kinds if not isinstance(k, str) or k not in accepted})
    if unknown:
        raise ModelConfigError(
            f"{where}: {field} holds [{', '.join(unknown)}]; supported: {sorted(accepted)}"
        )
    if len(kinds) != layers:
        raise ModelConfigError(
            f"{where}: {field} has {len(kinds)} entries for num_hidden_layers={layers}"
        )
    return {kind: kinds.count(kind) for kind in accepted}


# The layer kinds of models whose layers attend to a window or to every key.
_ATTENTION_KINDS = ("full_attention", "sliding_attention")


def _qwen_window(c: _Config) -> dict[str, Any]:
    """Qwen2/3's sliding window, only with `use_sliding_window`: on the layers `layer_types`
    marks, else on those from `max_window_layers` on (transformers' Qwen2Config and
    Qwen3Config, default 28); the layers before keep every key. `sliding_window` 4096 where
    absent, none where null."""
    types = c.get("layer_types", None)
    if types is not None:  # checked whether or not the window is on, as transformers does
        layer_counts(c, types, "layer_types", _ATTENTION_KINDS)
    if not c.get("use_sliding_window", False):
        return {"sliding_window": None}
    if types is None:
        first = c.get("max_window_layers", 28)
        layers = c.req("num_hidden_layers")
        types = ["sliding_attention" if i >= first else "full_attention" for i in range(layers)]
    windowed = layer_counts(c, types, "layer_types", _ATTENTION_KINDS)["sliding_attention"]
    # 4096 where absent (the four classes' default); null: no window, as vLLM runs it.
    stated = "sliding_window" not in c.raw or c.raw["sliding_window"] is not None
    if not windowed or not stated:
        return {"sliding_window": None}
    return {"sliding_window": c.positive("sliding_window", 4096), "window_layers": windowed}


def _llama(c: _Config, name: str) -> ModelSpec:
    # LlamaConfig has no sliding_window; vLLM's llama.py windows every layer by it.
    return _llama_like(c, name, refused=("sliding_window",))


def _mistral(c: _Config, name: str) -> ModelSpec:
    # MistralConfig declares neither bias; vLLM's MistralDecoderLayer (its LlamaDecoderLayer)
    # reads both. Phi3Config neither; vLLM's Phi3ForCausalLM is its LlamaForCausalLM.
    return _llama_like(c, name, refused=("attention_bias", "mlp_bias"))


def _qwen2(c: _Config, name: str) -> ModelSpec:
    # Qwen2 always has q/k/v biases and no o_proj bias. Neither Qwen2Config nor vLLM's
    # qwen2.py (qwen3.py for Qwen3) reads mlp_bias.
    return _llama_like(
        c, name, ignored=("mlp_bias",), qkv_bias=True, out_bias=False, **_qwen_window(c)
    )


def _qwen3(c: _Config, name: str) -> ModelSpec:
    return _llama_like(c, name, ignored=("mlp_bias",), qk_norm=True, **_qwen_window(c))


def _gemma(c: _Config, name: str) -> ModelSpec:
    act = c.get("hidden_activation", c.get("hidden_act", "gelu_pytorch_tanh"))
    return _llama_like(
        c,
        name,
        # GemmaConfig has neither key. vLLM serves Gemma with its Transformers backend (no
        # MLP bias), whose attention takes a config's sliding_window for every layer.
        ignored=("mlp_bias",),
        refused=("sliding_window",),
        tied_embeddings=c.get("tie_word_embeddings", True),
        activation=act,
        head_dim=c.get("head_dim", 256),
        norm_offset=True,  # GemmaRMSNorm: output * (1.0 + self.weight.float())
    )


def _gemma2(c: _Config, name: str) -> ModelSpec:
    act = c.get("hidden_activation", c.get("hidden_act", "gelu_pytorch_tanh"))
    return _llama_like(
        c,
        name,
        ignored=("mlp_bias",),  # Gemma2Config has none; vLLM's gemma2.py reads none
        tied_embeddings=c.get("tie_word_embeddings", True),
        activation=act,
        head_dim=c.get("head_dim", 256),
        post_norms=True,
        norms_per_block=4,
        norm_offset=True,  # Gemma2RMSNorm: output * (1.0 + self.weight.float())
        # Even layers attend within the window, odd ones globally.
        window_layers=(c.req("num_hidden_layers") + 1) // 2
        if c.raw.get("sliding_window")
        else None,
    )


def gpt2_block(
    c: _Config,
    name: str,
    *,
    layers: int,
    hidden: int,
    heads: int,
    head_dim: int,
    intermediate: int,
    positions: int,
    activation: str,
    **overrides: Any,
) -> ModelSpec:
    """GPT-2's block (GPT-2, GPT-BigCode): LayerNorms with biases, a bias on every projection,
    a learned position table, a non-gated MLP, tied embeddings by default; multi-head attention
    unless `overrides` say otherwise. The families' own key names are read by their callers."""
    fields: dict[str, Any] = dict(
        name=name,
        model_type=c.model_type,
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=head_dim,
        intermediate_size=intermediate,
        vocab_size=c.req("vocab_size"),
        max_positions=positions,
        tied_embeddings=c.get("tie_word_embeddings", True),
        gated_mlp=False,
        activation=activation,
        norm="layernorm",
        norm_bias=True,
        qkv_bias=True,
        out_bias=True,
        mlp_bias=True,
        learned_positions=positions,
    )
    fields.update(overrides)
    return _spec(fields)


def _gpt2(c: _Config, name: str) -> ModelSpec:
    hidden, heads = c.req("n_embd"), c.req("n_head")
    return gpt2_block(
        c,
        name,
        layers=c.req("n_layer"),
        hidden=hidden,
        heads=heads,
        head_dim=c.per_head(hidden, heads, "n_embd", "n_head"),
        intermediate=c.get("n_inner", 4 * hidden),
        positions=c.get("n_positions", 1024),
        activation=c.get("activation_function", "gelu_new"),
    )


def _opt(c: _Config, name: str) -> ModelSpec:
    hidden = c.req("hidden_size")
    heads = c.req("num_attention_heads")
    positions = c.get("max_position_embeddings", 2048)
    bias = c.get("enable_bias", True)
    embed = c.get("word_embed_proj_dim", hidden)
    final_norm = c.get("do_layer_norm_before", True) and not c.get(
        "_remove_final_layer_norm", False
    )
    return _spec(
        dict(
            name=name,
            model_type=c.model_type,
            num_layers=c.req("num_hidden_layers"),
            hidden_size=hidden,
            num_heads=heads,
            num_kv_heads=heads,
            head_dim=c.per_head(hidden, heads),
            intermediate_size=c.req("ffn_dim"),
            vocab_size=c.req("vocab_size"),
            max_positions=positions,
            tied_embeddings=c.get("tie_word_embeddings", True),
            gated_mlp=False,
            activation=c.get("activation_function", "relu"),
            norm="layernorm",
            norm_bias=c.get("layer_norm_elementwise_affine", True),
            qkv_bias=bias,
            out_bias=bias,
            mlp_bias=bias,
            final_norm=final_norm,
            # OPT's learned positions start at offset 2, so the table has two extra rows.
            learned_positions=positions + 2,
            embed_dim=None if embed == hidden else embed,
        )
    )


def gptj_block(
    c: _Config,
    name: str,
    *,
    layers: int,
    hidden: int,
    heads: int,
    head_dim: int,
    intermediate: int,
    positions: int,
    activation: str,
    **overrides: Any,
) -> ModelSpec:
    """GPT-J's parallel block (GPT-J, Phi): attention and a non-gated MLP both reading one
    LayerNorm with a bias, summed into the residual stream; multi-head attention; biased MLP
    and head. The families' own key names are read by their callers."""
    fields: dict[str, Any] = dict(
        name=name,
        model_type=c.model_type,
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=head_dim,
        intermediate_size=intermediate,
        vocab_size=c.req("vocab_size"),
        max_positions=positions,
        tied_embeddings=c.get("tie_word_embeddings", False),
        gated_mlp=False,
        activation=activation,
        norm="layernorm",
        norm_bias=True,
        parallel_block=True,
        parallel_reduce_each=True,
        norms_per_block=1,
        mlp_bias=True,
        lm_head_bias=True,
    )
    fields.update(overrides)
    return _spec(fields)


def _gptj(c: _Config, name: str) -> ModelSpec:
    hidden = c.req("n_embd")
    heads = c.req("n_head")
    return gptj_block(
        c,
        name,
        layers=c.req("n_layer"),
        hidden=hidden,
        heads=heads,
        head_dim=c.per_head(hidden, heads, "n_embd", "n_head"),
        intermediate=c.get("n_inner", 4 * hidden),
        positions=c.get("n_positions", 2048),
        activation=c.get("activation_function", "gelu_new"),
    )


def _gpt_neox(c: _Config, name: str) -> ModelSpec:
    hidden = c.req("hidden_size")
    heads = c.req("num_attention_heads")
    parallel = c.get("use_parallel_residual", True)
    bias = c.get("attention_bias", True)
    return _spec(
        dict(
            name=name,
            model_type=c.model_type,
            num_layers=c.req("num_hidden_layers"),
            hidden_size=hidden,
            num_heads=heads,
            num_kv_heads=heads,
            head_dim=c.per_head(hidden, heads),
            intermediate_size=c.req("intermediate_size"),
            vocab_size=c.req("vocab_size"),
            max_positions=c.get("max_position_embeddings", 2048),
            tied_embeddings=c.get("tie_word_embeddings", False),
            gated_mlp=False,
            activation=c.get("hidden_act", "gelu"),
            norm="layernorm",
            norm_bias=True,
            parallel_block=parallel,
            parallel_reduce_each=parallel,
            qkv_bias=bias,
            out_bias=bias,
            mlp_bias=True,
        )
    )


def _falcon(c: _Config, name: str) -> ModelSpec:
    hidden = c.req("hidden_size")
    heads = c.req("num_attention_heads", "n_head")
    heads_key = "num_attention_heads" if c.raw.get("num_attention_heads") is not None else "n_head"
    # The original Falcon-40B config ("RefinedWeb") predates the flag but is the new architecture.
    new_arch = c.get("new_decoder_architecture", c.model_type == "RefinedWeb")
    if new_arch:
        kv_heads = c.get("num_kv_heads", c.get("n_head_kv", heads))
    elif c.get("multi_query", True):
        kv_heads = 1
    else:
        kv_heads = heads
    parallel = new_arch or c.get("parallel_attn", True)
    # The new architecture has separate attention and MLP norms; the old parallel one shares one.
    norms = 2 if (new_arch or not parallel) else 1
    if new_arch and c.get("num_ln_in_parallel_attn", 2) == 1:
        norms = 1
    bias = c.get("bias", False)
    return _spec(
        dict(
            name=name,
            model_type="falcon",
            num_layers=c.req("num_hidden_layers", "n_layer"),
            hidden_size=hidden,
            num_heads=heads,
            num_kv_heads=kv_heads,
            head_dim=c.per_head(hidden, heads, heads_key=heads_key),
            intermediate_size=c.get("ffn_hidden_size", 4 * hidden),
            vocab_size=c.req("vocab_size"),
            max_positions=c.get("max_position_embeddings", 2048),
            tied_embeddings=c.get("tie_word_embeddings", True),
            gated_mlp=False,
            activation=c.get("activation", "gelu"),
            norm="layernorm",
            norm_bias=True,
            parallel_block=parallel,
            norms_per_block=norms,
            qkv_bias=bias,
            out_bias=bias,
            mlp_bias=bias,
        )
    )


def _mixtral(c: _Config, name: str) -> ModelSpec:
    # Every layer is MoE; the config's intermediate_size is the expert width.
    return _llama_like(
        c,
        name,
        # MixtralConfig declares neither bias, vLLM's mixtral.py builds none.
        ignored=("attention_bias", "mlp_bias"),
        num_experts=c.req("num_local_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=c.req("intermediate_size"),
    )


def _deepseek_v2(c: _Config, name: str) -> ModelSpec:
    # DeepseekV2Config has no sliding_window: transformers' model ignores it, while its
    # DynamicCache (no layer_types) keeps only that window.
    return _deepseek(c, name, refused=("sliding_window",))


def _deepseek_v3(c: _Config, name: str) -> ModelSpec:
    # DeepseekV3Config has no mlp_bias either, nor does vLLM's deepseek_v2.py read one.
    return _deepseek(c, name, ignored=("mlp_bias",), refused=("sliding_window",))


def _moe_layers(c: _Config) -> None:
    """Models whose MoE layers are not all layers are not supported yet: say so."""
    step, dense = c.get("decoder_sparse_step", 1), c.get("mlp_only_layers", [])
    if step != 1 or dense:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: decoder_sparse_step={step!r} and "
            f"mlp_only_layers={dense!r} are not supported; supported: decoder_sparse_step 1 "
            "and mlp_only_layers [] (every layer MoE)"
        )


def _qwen2_moe(c: _Config, name: str) -> ModelSpec:
    _moe_layers(c)
    shared = c.get("shared_expert_intermediate_size", 0) or None
    return _llama_like(
        c,
        name,
        ignored=("mlp_bias",),  # nor in Qwen2MoeConfig, nor in vLLM's qwen2_moe.py
        qkv_bias=True,
        out_bias=False,
        **_qwen_window(c),
        num_experts=c.req("num_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=c.req("moe_intermediate_size"),
        shared_intermediate_size=shared,
        shared_expert_gate=shared is not None,
    )


def _qwen3_moe(c: _Config, name: str) -> ModelSpec:
    _moe_layers(c)
    return _llama_like(
        c,
        name,
        ignored=("mlp_bias",),  # nor in Qwen3MoeConfig, nor in vLLM's qwen3_moe.py
        qk_norm=True,
        **_qwen_window(c),
        num_experts=c.req("num_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=c.req("moe_intermediate_size"),
    )


def _deepseek(
    c: _Config, name: str, *, ignored: Collection[str] = (), refused: Collection[str] = ()
) -> ModelSpec:
    """DeepSeek-V2/V3: MLA attention and fine-grained MoE after `first_k_dense_replace` dense
    layers. The multi-token-prediction modules (num_nextn_predict_layers) are not part of the
    model that generates: recorded in `mtp_layers`, left out of the graph, as DeepSeek's own
    671B count leaves them out. `ignored` and `refused` as _llama_like's."""
    if c.get("moe_layer_freq", 1) != 1:
        raise ModelConfigError(
            f"model_type {c.model_type!r}: moe_layer_freq other than 1 is not supported"
        )
    nope, rope = c.req("qk_nope_head_dim"), c.req("qk_rope_head_dim")
    heads = c.req("num_attention_heads")
    expert = c.req("moe_intermediate_size")
    shared = c.get("n_shared_experts", 0) or 0
    return _llama_like(
        c,
        name,
        ignored=ignored,
        refused=refused,
        head_dim=nope + rope,
        num_kv_heads=heads,
        q_lora_rank=c.raw.get("q_lora_rank"),
        kv_lora_rank=c.req("kv_lora_rank"),
        qk_rope_head_dim=rope,
        v_head_dim=c.req("v_head_dim"),
        num_experts=c.req("n_routed_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=expert,
        shared_intermediate_size=expert * shared or None,
        # V3 routes with a learned per-expert score correction bias ("noaux_tc").
        router_bias=c.get("topk_method", "") == "noaux_tc",
        dense_layers=c.get("first_k_dense_replace", 0),
        mtp_layers=c.count("num_nextn_predict_layers"),
    )


READERS: dict[str, Callable[[_Config, str], ModelSpec]] = {
    "llama": _llama,
    "mistral": _mistral,
    "phi3": _mistral,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "gemma": _gemma,
    "gemma2": _gemma2,
    "opt": _opt,
    "gpt2": _gpt2,
    "gptj": _gptj,
    "gpt_neox": _gpt_neox,
    "falcon": _falcon,
    "mixtral": _mixtral,
    "deepseek_v2": _deepseek_v2,
    "deepseek_v3": _deepseek_v3,
    "qwen2_moe": _qwen2_moe,
    "qwen3_moe": _qwen3_moe,
    "RefinedWeb": _falcon,
    "RefinedWebModel": _falcon,
}
# Hybrids with recurrent mixers live in their own module, which builds on the helpers above.
from rooflens.models.hybrids import HYBRID_READERS  # noqa: E402

READERS.update(HYBRID_READERS)
SUPPORTED_MODEL_TYPES = tuple(sorted(READERS))


def _spec(fields: dict[str, Any]) -> ModelSpec:
    # Strict: a config's "4096" is not the integer 4096, true is not 1.
    try:
        return ModelSpec.model_validate(fields, strict=True)
    except ValidationError as exc:
        where = f"config.json of model_type {fields.get('model_type')!r}"
        raise _refused(where, exc, _config_words) from None


def _refused(
    where: str, exc: ValidationError, spelled: Callable[[str], str] = str
) -> ModelConfigError:
    """One line for a description refused from a config: the field with its value and why,
    or (a rule across fields) why; `spelled` writes rooflens's field names as config.json
    spells them."""
    err = exc.errors()[0]
    message = spelled(err["msg"].removeprefix("Value error, "))
    bound = (err.get("ctx") or {}).get("ge", (err.get("ctx") or {}).get("le"))
    if err["type"] == "greater_than" and err.get("ctx") == {"gt": 0} and type(err["input"]) is int:
        # A size or count below 1, in the words _Config.positive refuses it with ("Input
        # should be greater than 0" where a sibling key said this).
        message = "expected a positive integer"
    elif err["type"] == "greater_than_equal" and type(err["input"]) is int:
        # pydantic's "Input should be greater than or equal to 0", in the words of the rest
        # (a rule of the description may refuse 0 besides: it names itself).
        message = f"expected an integer of at least {bound:,}"
    elif err["type"] == "less_than_equal" and type(err["input"]) is int:
        message = f"expected at most {bound:,}"
    elif type_words(err) is not None:  # a wrong type, in the words of the rest
        message = f"expected {type_words(err)}"
    if not err["loc"]:  # a rule across fields names them in its message
        return ModelConfigError(f"{where}: {message}")
    field = spelled(".".join(str(p) for p in err["loc"]))
    return ModelConfigError(f"{where}: {field}={err.get('input')!r} is invalid: {message}")


def _config_words(text: str) -> str:
    """rooflens's field names in `text` as config.json spells them (num_layers ->
    num_hidden_layers; a field of several spellings keeps its name and lists them)."""
    for field, key in CONFIG_KEYS.items():
        spelled = key if "/" not in key else f"{field} ({key})"
        text = re.sub(rf"\b{field}\b", spelled, text)
    return text


# The config.json keys rooflens's own field names are read from, for errors: a user fixes the
# file, whose names differ (one field, several spellings across families).
CONFIG_KEYS = {
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "num_kv_heads": "num_key_value_heads",
    "max_positions": "max_position_embeddings",
    "num_experts": "num_experts / num_local_experts / n_routed_experts",
    "experts_per_token": "num_experts_per_tok / top_k",
    "expert_intermediate_size": "moe_intermediate_size",
    "activation": "hidden_act / activation_function",
}


# The keys configs give their depth under, at the top or in a wrapper's text_config.
DEPTH_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "decoder_layers")


def _check_depth(config: Mapping[str, Any]) -> None:
    """A depth past any model's, refused before a reader lays out its layers one by one (a
    billion-layer config took minutes and gigabytes to refuse, a larger one all memory)."""
    text = config.get("text_config")
    for part in (config, text if isinstance(text, Mapping) else {}):
        for key in DEPTH_KEYS:
            depth = part.get(key)
            if isinstance(depth, int) and not isinstance(depth, bool) and depth > MAX_LAYERS:
                raise ModelConfigError(
                    f"config.json's {key}={depth} is invalid: expected at most {MAX_LAYERS:,} "
                    "layers"
                )


def _as_json(value: Any) -> Any:
    """A config built in Python as the JSON it stands for: numpy's scalars and arrays (a
    config assembled from pandas or numpy) as numbers, booleans and arrays."""
    if isinstance(value, Mapping):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(item) for item in value]
    if isinstance(value, np.ndarray):
        return _as_json(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def spec_from_config(config: Mapping[str, Any], name: str | None = None) -> ModelSpec:
    """Normalize a parsed config.json into a ModelSpec."""
    if not isinstance(config, Mapping):
        raise ModelConfigError(f"config.json must hold a JSON object, got {type(config).__name__}")
    try:
        config = _as_json(config)
    except RecursionError:
        # One call per nesting level, as the JSON parser's; no config nests more than a few.
        raise ModelConfigError("config.json nests deeper than Python can read") from None
    model_type = config.get("model_type")
    if model_type is None:
        text = config.get("text_config")
        inner = text.get("model_type") if isinstance(text, Mapping) else None
        # A wrapper's text_config names its language model, not the wrapper to read it with.
        nested = (
            f" (its text_config.model_type={inner!r} is the language model's; the top level "
            "names the wrapper around it)"
            if inner is not None
            else ""
        )
        raise ModelConfigError(
            f"config.json lacks 'model_type'{nested}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    reader = READERS.get(model_type) if isinstance(model_type, str) else None
    if reader is None:
        raise ModelConfigError(
            f"model_type {model_type!r} is not supported; supported: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    label = name or config.get("_name_or_path") or model_type
    _check_depth(config)
    try:
        spec = reader(_Config(config, model_type), str(label))
    except ValidationError as exc:  # a part built without naming its keys (_Config.built)
        raise _refused(f"config.json of model_type {model_type!r}: {exc.title}", exc) from None
    # Wrappers may keep it with their language model (Kimi K2.5's text_config).
    text = config.get("text_config")
    nested = text.get("quantization_config") if isinstance(text, Mapping) else None
    top = config.get("quantization_config")
    # Absent, null or an empty object: none at the top. false, 0, "" or [] are refused by the
    # reader; they had read as a 16-bit checkpoint.
    raw = nested if top is None or top == {} else top
    if raw is not None:
        # The module names of its lists are read against the layers the config lays out.
        layout = model_layout(spec, text if isinstance(text, Mapping) else config)
        quant = read_quantization_config(raw, layout=layout)
    else:
        quant = None
    if quant is not None:
        # A rule over every module name (GPTQModel's ".*mlp.*") or a list of the modules
        # quantized reaches classes this model lacks (experts in a dense model): only those it
        # holds are stored apart or left at 16 bits.
        held = held_module_classes(spec)
        # An operator's own key (MIXED_PRECISION's) came from the model's own graph.
        kept = tuple(
            (kind, own)
            for kind, own in quant.modules
            if kind in held or kind not in (*MODULE_CLASSES, "lm_head")
        )
        unquantized = tuple(kind for kind in quant.unquantized if kind in held)
        quant = quant.model_copy(update={"modules": kept, "unquantized": unquantized})
        if spec.tied_embeddings and "lm_head" in dict(kept):
            # GPTQModel refuses it: the head is the embedding matrix.
            raise ModelConfigError(
                f"quantization_config ({quant.method}): lm_head=True with tied embeddings "
                "(tie_word_embeddings) is not supported: the head is the embedding matrix, "
                "which GPTQ leaves unquantized"
            )
    if quant is not None and config.get("expert_dtype") == "fp4":
        # DeepSeek-V4 stores its routed experts in FP4 E2M1 with an E8M0 scale per 32 values,
        # the rest as its quantization_config says (vLLM serves them with its MXFP4 MoE
        # method: models/deepseek_v4, VllmMxfp4MoEMethod); NVIDIA's export re-quantizes them
        # to NVFP4 (16 values per FP8 scale, FP4 activations), as its moe_quant_algo says.
        update: dict[str, Any] = {"w_bits": 4, "group_size": None, "w_scale": "channel"}
        algo = (config.get("quantization_config") or {}).get("moe_quant_algo")
        if str(algo).upper() == "NVFP4":
            update |= {"w_format": "nvfp4", "a_bits": 4, "a_scale": "dynamic"}
        else:
            update["w_format"] = "mxfp4"
        experts = ("experts", quant.quantization.model_copy(update=update))
        quant = quant.model_copy(update={"modules": (*quant.modules, experts)})
    return spec if quant is None else spec.model_copy(update={"checkpoint_quant": quant})


# The 2025-2026 architectures build on the helpers above (rooflens.models.readers).
from rooflens.models.quant import (  # noqa: E402
    held_module_classes,
    model_layout,
    read_quantization_config,
)
from rooflens.models.readers import NEW_READERS, REFUSING_READERS  # noqa: E402

READERS.update(NEW_READERS)
SUPPORTED_MODEL_TYPES = tuple(sorted(READERS))
READERS.update(REFUSING_READERS)
