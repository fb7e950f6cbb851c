"""config.json readers of hybrids with recurrent mixers (core.mixers): which layers hold
attention, a recurrent mixer or an MLP, and the mixer's shapes. One reader per model_type; where
a config omits a field, the default of that model's transformers config class applies."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.mixers import Mixer
from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like, _moe_layers, layer_counts

# The widths of the recurrent state's dtypes a config may declare.
_STATE_DTYPE_BITS = {"float32": 32, "bfloat16": 16, "float16": 16}


def _state_bits(c: _Config, key: str, default: str | None) -> int | None:
    """The recurrent state's width as `key` declares it; None where nothing is declared (the
    KV cache's then). Another dtype ("float8") fell back to the KV cache's width unsaid."""
    dtype = c.raw.get(key)
    if dtype is None:  # absent or null: the config class's default
        dtype = default
    if dtype is None:
        return None
    if not isinstance(dtype, str) or dtype not in _STATE_DTYPE_BITS:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {key}={dtype!r} is not supported; "
            f"supported: {', '.join(_STATE_DTYPE_BITS)}"
        )
    return _STATE_DTYPE_BITS[dtype]


def _layer_types(c: _Config, linear: str = "linear_attention") -> dict[str, int]:
    """`layer_types`, or every `full_attention_interval`-th layer full attention (Qwen3-Next)."""
    n = c.req("num_hidden_layers")
    kinds = c.raw.get("layer_types")
    if kinds is None:
        every = c.positive("full_attention_interval", 4)
        kinds = [linear if (i + 1) % every else "full_attention" for i in range(n)]
    return layer_counts(c, kinds, "layer_types", {linear, "full_attention"})


def _gated_deltanet(c: _Config, name: str, moe: bool) -> ModelSpec:
    """Qwen3-Next and Qwen3.5: Gated DeltaNet and gated full attention 3:1; every layer MoE
    with a gated shared expert, or (dense Qwen3.5) a gated MLP. Qwen3.5's MTP layers
    (`mtp_num_hidden_layers`) are recorded apart, as DeepSeek's are."""
    counts = _layer_types(c)
    keys = {
        "num_heads": "linear_num_value_heads",
        "head_dim": "linear_value_head_dim",
        "num_key_heads": "linear_num_key_heads",
        "key_dim": "linear_key_head_dim",
        "conv_kernel": "linear_conv_kernel_dim",
    }
    mixer = c.built(
        Mixer,
        keys,
        kind="gated_deltanet",
        num_heads=c.req("linear_num_value_heads"),
        head_dim=c.req("linear_value_head_dim"),
        num_key_heads=c.req("linear_num_key_heads"),
        key_dim=c.req("linear_key_head_dim"),
        conv_kernel=c.positive("linear_conv_kernel_dim", 4),
        # The fla chunk_gated_delta_rule kernel works in chunks of 64 tokens.
        chunk_size=64,
        # Qwen3.5 declares its recurrent state float32.
        state_bits=_state_bits(c, "mamba_ssm_dtype", None),
    )
    experts: dict[str, Any] = {}
    if moe:
        _moe_layers(c)
        experts = dict(
            num_experts=c.req("num_experts"),
            experts_per_token=c.req("num_experts_per_tok"),
            expert_intermediate_size=c.req("moe_intermediate_size"),
            shared_intermediate_size=c.get("shared_expert_intermediate_size", 0) or None,
            shared_expert_gate=True,
        )
        if c.raw.get("intermediate_size") is None:
            # Qwen3.5-MoE has no dense MLP; the spec's dense width is then unused.
            c = _Config(
                {**c.raw, "intermediate_size": experts["expert_intermediate_size"]}, c.model_type
            )
    return _llama_like(
        c,
        name,
        # Qwen3NextRMSNorm and Qwen3_5RMSNorm: output * (1.0 + self.weight.float()).
        norm_offset=True,
        # Neither Qwen3NextConfig nor Qwen3_5(Moe)TextConfig has these; vLLM's qwen3_next.py
        # and qwen3_5 build no MLP bias, and their layer_types (linear and full) keep vLLM's
        # cache config from any window.
        ignored=("mlp_bias", "sliding_window"),
        qk_norm=True,
        attention_output_gate=True,
        mixer=mixer,
        mixer_layers=counts["linear_attention"],
        attention_layers=counts["full_attention"],
        # Qwen3.5's multi-token-prediction layers (a full-attention block each), sharing the
        # model's embedding and head unless the config says otherwise.
        mtp_layers=c.count("mtp_num_hidden_layers"),
        mtp_own_embeddings=c.get("mtp_use_dedicated_embeddings", False),
        **experts,
    )


def _olmo_hybrid(c: _Config, name: str) -> ModelSpec:
    """OLMo Hybrid (transformers' OlmoHybridConfig, vLLM's olmo_hybrid.py): Gated DeltaNet
    (separate q, k, v, a, b and g projections, one conv over q, k and v) in the
    "linear_attention" layers, OLMo 3's attention (RMSNorms over the whole q and k projections,
    norms after each sublayer) in the "full_attention" ones, a SwiGLU MLP in every layer."""
    n, hidden = c.req("num_hidden_layers"), c.req("hidden_size")
    where = f"config.json of model_type {c.model_type!r}"
    kinds = c.raw.get("layer_types")
    if kinds is None:
        # OlmoHybridConfig's default: every fourth layer full attention, at least the last.
        kinds = ["full_attention" if i % 4 == 3 else "linear_attention" for i in range(n)]
        if "full_attention" not in kinds:
            kinds[-1] = "full_attention"
    counts = layer_counts(c, kinds, "layer_types", {"linear_attention", "full_attention"})
    if not counts["linear_attention"] or not counts["full_attention"]:
        # OlmoHybridConfig refuses both (validate_architecture).
        raise ModelConfigError(
            f"{where}: layer_types={kinds!r} is invalid: expected at least one "
            "'linear_attention' and one 'full_attention' layer"
        )
    heads = c.req("num_attention_heads")
    head_dim = c.head_dim(hidden, heads)
    act = c.get("hidden_act", "silu")
    for key, value, engines in (
        ("attention_bias", c.get("attention_bias", False), False),
        ("head_dim", head_dim, c.per_head(hidden, heads)),
        ("hidden_act", act, "silu"),
    ):
        if value != engines:
            # transformers' OlmoHybridAttention reads attention_bias and head_dim; vLLM's builds
            # no bias and hidden_size / num_attention_heads wide heads, and its MLP runs SiLU.
            raise ModelConfigError(
                f"{where}: {key}={value!r} is not supported; supported: {engines!r} (vLLM's "
                "OLMo Hybrid builds that whatever the config says)"
            )
    # OlmoHybridConfig's derived defaults: as many key and value heads as attention heads,
    # keys int(0.75 x hidden_size / key heads) wide, values twice that.
    key_heads = c.positive("linear_num_key_heads", heads)
    key_dim = c.positive("linear_key_head_dim", int(0.75 * hidden / key_heads))
    keys = {
        "num_heads": "linear_num_value_heads",
        "head_dim": "linear_value_head_dim",
        "num_key_heads": "linear_num_key_heads",
        "key_dim": "linear_key_head_dim",
        "conv_kernel": "linear_conv_kernel_dim",
    }
    mixer = c.built(
        Mixer,
        keys,
        kind="gated_deltanet",
        num_heads=c.positive("linear_num_value_heads", heads),
        head_dim=c.positive("linear_value_head_dim", 2 * key_dim),
        num_key_heads=key_heads,
        key_dim=key_dim,
        conv_kernel=c.positive("linear_conv_kernel_dim", 4),
        # The fla chunk_gated_delta_rule kernel works in chunks of 64 tokens.
        chunk_size=64,
    )
    return _llama_like(
        c,
        name,
        head_dim=head_dim,
        max_positions=c.get("max_position_embeddings", 65536),
        qk_norm=True,
        qk_norm_whole=True,
        # vLLM's _apply_qk_norm gathers q and k whole under tensor parallelism.
        qk_norm_gathered=True,
        # Neither engine builds an MLP bias or a window, whatever the config says (its
        # layer_types keep vLLM's cache config from any window).
        ignored=("mlp_bias", "sliding_window"),
        mixer=mixer,
        mixer_layers=counts["linear_attention"],
        attention_layers=counts["full_attention"],
    )


def _qwen3_next(c: _Config, name: str) -> ModelSpec:
    return _gated_deltanet(c, name, moe=True)


def _text_tower(c: _Config) -> _Config:
    """Qwen3.5 checkpoints wrap the language model in `text_config` beside a vision tower
    (read apart, `_with_vision`)."""
    text = c.raw.get("text_config")
    if text is None:
        return c
    if not isinstance(text, dict):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: text_config={text!r} is invalid: "
            "expected a JSON object"
        )
    tied = (
        {"tie_word_embeddings": c.raw["tie_word_embeddings"]}
        if "tie_word_embeddings" in c.raw
        else {}
    )
    return _Config({**tied, **text}, c.model_type)


def _qwen3_5(c: _Config, name: str) -> ModelSpec:
    return _with_vision(c, _gated_deltanet(_text_tower(c), name, moe=False))


def _qwen3_5_moe(c: _Config, name: str) -> ModelSpec:
    return _with_vision(c, _gated_deltanet(_text_tower(c), name, moe=True))


def _with_vision(c: _Config, spec: ModelSpec) -> ModelSpec:
    """Qwen3.5's vision tower, where its checkpoint has one: Qwen3-VL's ViT without the
    DeepStack mergers (transformers' Qwen3_5VisionModel), feeding the first layer alone."""
    if not isinstance(c.raw.get("vision_config"), dict):
        return spec
    # The readers' package imports this module (its hybrid mixers): imported when called.
    from rooflens.models.readers.common import vision_config
    from rooflens.models.readers.vision import qwen3_vl_vision

    return spec.model_copy(update={"vision": qwen3_vl_vision(vision_config(c), deepstack=False)})


def _mamba2(c: _Config, keys: dict[str, str], heads: int, head_dim: int, **fields: Any) -> Mixer:
    return c.built(Mixer, keys, kind="mamba2", num_heads=heads, head_dim=head_dim, **fields)


# The config.json keys of Mamba2 as Falcon-H1 and Granite-4.0-H, and as Nemotron-H, name it.
_PREFIXED_MAMBA2_KEYS = {
    "num_heads": "mamba_n_heads",
    "head_dim": "mamba_d_head",
    "num_key_heads": "mamba_n_groups",
    "key_dim": "mamba_d_state",
    "conv_kernel": "mamba_d_conv",
    "chunk_size": "mamba_chunk_size",
}
_NEMOTRON_MAMBA2_KEYS = {
    "num_heads": "mamba_num_heads",
    "head_dim": "mamba_head_dim",
    "num_key_heads": "n_groups",
    "key_dim": "ssm_state_size",
    "conv_kernel": "conv_kernel",
    "chunk_size": "chunk_size",
}


def _prefixed_mamba2(c: _Config, inner: int, **fields: Any) -> Mixer:
    """Mamba2 as Falcon-H1 and Granite-4.0-H name its fields (`mamba_*`, one default set)."""
    heads = c.get("mamba_n_heads", 128)
    head_dim = c.get("mamba_d_head", "auto")
    return _mamba2(
        c,
        _PREFIXED_MAMBA2_KEYS,
        heads,
        (
            c.per_head(inner, heads, "mamba inner width", "mamba_n_heads")
            if head_dim == "auto"
            else head_dim
        ),
        num_key_heads=c.get("mamba_n_groups", 1),
        key_dim=c.get("mamba_d_state", 256),
        conv_kernel=c.positive("mamba_d_conv", 4),
        chunk_size=c.get("mamba_chunk_size", 256),
        in_bias=c.get("mamba_proj_bias", False),
        conv_bias=c.get("mamba_conv_bias", True),
        **fields,
    )


_NEMOTRON_SYMBOLS = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}


def _nemotron_h(c: _Config, name: str) -> ModelSpec:
    """Nemotron-H: each layer is one of Mamba2 (M), attention (*), a squared-ReLU MLP (-) or an
    MoE of squared-ReLU experts with a shared expert (E, Nemotron 3); Nemotron 3 Super's and
    Ultra's MTP modules are recorded apart, as DeepSeek's are."""
    field = next(
        (k for k in ("hybrid_override_pattern", "layers_block_type", "layer_types") if k in c.raw),
        "hybrid_override_pattern",
    )
    pattern = c.raw.get("hybrid_override_pattern")
    if pattern is not None:
        if not isinstance(pattern, str | list):
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: hybrid_override_pattern="
                f"{pattern!r} is invalid: expected a string of one symbol per layer among "
                f"{', '.join(_NEMOTRON_SYMBOLS)}"
            )
        kinds = [_NEMOTRON_SYMBOLS.get(s, s) if isinstance(s, str) else s for s in pattern]
    else:
        # Absent, each spelling is named: the refusal had left out hybrid_override_pattern.
        kinds = c.req("hybrid_override_pattern", "layers_block_type", "layer_types", kind=list)
    # transformers 5 names the kinds linear_attention (Mamba2) and full_attention.
    renamed = {"linear_attention": "mamba", "full_attention": "attention"}
    kinds = [renamed.get(k, k) if isinstance(k, str) else k for k in kinds]
    if c.raw.get("num_hidden_layers") is None and isinstance(kinds, list):
        # transformers 5's NemotronHConfig derives num_hidden_layers from the layer list
        # (Nemotron 3 Ultra's config.json gives layers_block_type alone).
        c = _Config({**c.raw, "num_hidden_layers": len(kinds)}, c.model_type)
    counts = layer_counts(c, kinds, field, {"mamba", "attention", "mlp", "moe"})
    hidden = c.req("hidden_size")
    heads = c.req("num_attention_heads")
    mixer = _mamba2(
        c,
        _NEMOTRON_MAMBA2_KEYS,
        c.req("mamba_num_heads"),
        c.req("mamba_head_dim"),
        num_key_heads=c.get("n_groups", 8),
        key_dim=c.get("ssm_state_size", 128),
        conv_kernel=c.positive("conv_kernel", 4),
        chunk_size=c.get("chunk_size", 128),
        in_bias=c.get("use_bias", False),
        out_bias=c.get("use_bias", False),
        conv_bias=c.get("use_conv_bias", True),
        # Absent, the config class's default float32 (as the --state-bits help says).
        state_bits=_state_bits(c, "mamba_ssm_cache_dtype", "float32"),
    )
    moe: dict[str, Any] = {}
    if counts["moe"]:
        # Nemotron 3 Super's latent MoE (transformers' NemotronHMoE): the router and the
        # shared expert read the hidden state; fc1_latent_proj (h -> moe_latent_size, no norm
        # after it) feeds the routed experts, whose up and down projections work in that
        # width, and fc2_latent_proj brings their sum back to h.
        latent = c.raw.get("moe_latent_size")
        if latent is not None:
            moe = dict(
                expert_latent_size=c.positive("moe_latent_size", maximum=MAX_WIDTH),
                expert_latent_norm=False,
                expert_latent_quantized=True,
            )
        moe |= dict(
            # Named here: ModelSpec's refusals name rooflens's fields or other spellings.
            num_experts=c.positive("n_routed_experts", 8, MAX_COUNT),
            experts_per_token=c.positive("num_experts_per_tok", 2, MAX_COUNT),
            expert_intermediate_size=c.positive("moe_intermediate_size", 7688, MAX_WIDTH),
            shared_intermediate_size=c.positive(
                "moe_shared_expert_intermediate_size", 7688, MAX_WIDTH
            ),
            # Sigmoid routing with a per-expert score correction bias, as DeepSeek-V3.
            router_bias=True,
            dense_layers=counts["mlp"],
        )
    return _llama_like(
        c,
        name,
        head_dim=c.head_dim(hidden, heads, ("head_dim", "attention_head_dim")),
        gated_mlp=False,
        activation=c.get("mlp_hidden_act", "relu2"),
        mixer=mixer,
        mixer_layers=counts["mamba"],
        attention_layers=counts["attention"],
        mlp_layers=counts["mlp"] + counts["moe"],
        mtp_layers=_nemotron_mtp_layers(c, has_moe=bool(counts["moe"])),
        # vLLM's NemotronHMTP reads the main model's embedding and lm_head; the checkpoint's
        # mtp.* tensors hold neither.
        mtp_own_embeddings=False,
        **moe,
    )


# The one MTP layout rooflens prices (core.mtp): an attention layer, then an MoE layer like the
# model's, between the joining projection (eh_proj) and the final norm.
_NEMOTRON_MTP_KINDS = ["attention", "moe"]


def _nemotron_mtp_layers(c: _Config, has_moe: bool) -> int:
    """Nemotron 3 Super's and Ultra's MTP modules (`num_nextn_predict_layers`), each the layers
    of `mtp_layers_block_type` (or the legacy `mtp_hybrid_override_pattern`; absent, transformers'
    NemotronHConfig default: attention then MoE), as vLLM's NemotronHMTP builds them: enorm and
    hnorm, eh_proj, the layers, a final norm. Only one attention and one MoE layer, the released
    layout, is priced: a module of other layers is refused."""
    modules = c.count("num_nextn_predict_layers")
    if not modules:
        return 0
    field = "mtp_layers_block_type"
    layout = c.raw.get(field)
    if layout is None and c.raw.get("mtp_hybrid_override_pattern") is not None:
        field = "mtp_hybrid_override_pattern"
        layout = c.raw[field]
    if layout is None:
        return modules
    renamed = {"linear_attention": "mamba", "full_attention": "attention"}
    kinds = (
        [renamed.get(k, _NEMOTRON_SYMBOLS.get(k, k)) if isinstance(k, str) else k for k in layout]
        if isinstance(layout, str | list)
        else None
    )
    if kinds != _NEMOTRON_MTP_KINDS or not has_moe:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {field}={layout!r} is not supported "
            f"with num_nextn_predict_layers={modules}; supported: '*E' (['attention', 'moe']: "
            "one attention layer, then one MoE layer like the model's, in a model with MoE "
            "layers)"
        )
    return modules


def _period(c: _Config, what: str, period: int, offset: int) -> tuple[int, int]:
    """Jamba's `{what}_layer_period` and `{what}_layer_offset`: the layers `i` with
    `i % period == offset` hold the kind, so the offset is 0 to period - 1."""
    every = c.positive(f"{what}_layer_period", period)
    at = c.get(f"{what}_layer_offset", offset)
    if not 0 <= at < every:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {what}_layer_offset={at!r} is "
            f"invalid: expected 0 to {what}_layer_period - 1 = {every - 1}"
        )
    return every, at


# Mamba-1's config keys: MambaConfig's (Mamba, Falcon Mamba) and Jamba's mamba_ spellings.
MAMBA_KEYS = {
    "key_dim": "state_size",
    "conv_kernel": "conv_kernel",
    "low_rank": "time_step_rank",
    "bias": "use_bias",
    "conv_bias": "use_conv_bias",
}
JAMBA_MAMBA_KEYS = {
    "key_dim": "mamba_d_state",
    "conv_kernel": "mamba_d_conv",
    "low_rank": "mamba_dt_rank",
    "bias": "mamba_proj_bias",
    "conv_bias": "mamba_conv_bias",
}


def mamba1_mixer(
    c: _Config,
    inner: int,
    inner_key: str,
    keys: dict[str, str],
    inner_norms: bool = False,
    inner_norm_weights: bool = True,
) -> Mixer:
    """Mamba-1 (MambaMixer): in_proj h -> 2 x inner (x and the gate z), a causal conv over x,
    x_proj inner -> dt rank + 2 x state (dt, B, C), dt_proj rank -> inner (biased), the
    selective scan, y * silu(z), out_proj; read under `keys`' names (MAMBA_KEYS,
    JAMBA_MAMBA_KEYS). Every inner channel is a one-wide head with its own state."""
    if inner > MAX_COUNT:
        # Each inner channel is one of the mixer's heads.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: the mixer's inner width {inner} "
            f"({inner_key}) is invalid: expected at most {MAX_COUNT:,} channels"
        )
    rank = c.raw.get(keys["low_rank"])
    if rank is None or rank == "auto":
        rank = math.ceil(c.req("hidden_size") / 16)
    elif type(rank) is not int or rank < 1:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {keys['low_rank']}={rank!r} is "
            "invalid: expected 'auto' or a positive integer"
        )
    bias = c.get(keys["bias"], False)
    return c.built(
        Mixer,
        {"num_heads": inner_key, **{k: keys[k] for k in ("key_dim", "conv_kernel", "low_rank")}},
        kind="mamba1",
        num_heads=inner,
        head_dim=1,
        num_key_heads=1,
        key_dim=c.get(keys["key_dim"], 16),
        conv_kernel=c.positive(keys["conv_kernel"], 4),
        low_rank=rank,
        # The bias key: in_proj and out_proj; dt_proj is always biased, x_proj never.
        in_bias=bias,
        out_bias=bias,
        conv_bias=c.get(keys["conv_bias"], True),
        out_norm=False,
        inner_norms=inner_norms,
        inner_norm_weights=inner_norm_weights,
    )


def _jamba(c: _Config, name: str) -> ModelSpec:
    """Jamba: one attention layer per `attn_layer_period`, Mamba (version 1) in the others; an
    MoE MLP every `expert_layer_period` layers, a dense one elsewhere."""
    n, hidden = c.req("num_hidden_layers"), c.req("hidden_size")
    attn_every, attn_at = _period(c, "attn", 8, 4)
    moe_every, moe_at = _period(c, "expert", 2, 1)
    attention = sum(1 for i in range(n) if i % attn_every == attn_at)
    moe = sum(1 for i in range(n) if i % moe_every == moe_at)
    mixer = mamba1_mixer(
        c,
        c.positive("mamba_expand", 2) * hidden,
        "mamba_expand",
        JAMBA_MAMBA_KEYS,
        inner_norms=True,
    )
    experts = c.positive("num_experts", 16)
    moe_fields: dict[str, Any] = {}
    if experts > 1 and moe:  # one expert: every MLP dense, as transformers builds it
        moe_fields = dict(
            num_experts=experts,
            experts_per_token=c.get("num_experts_per_tok", 2),
            expert_intermediate_size=c.req("intermediate_size"),
            dense_layers=n - moe,
        )
    return _llama_like(
        c,
        name,
        # JambaConfig has none of the three: vLLM's jamba.py builds no bias, and its
        # layer_types (linear and full) keep vLLM's cache config from any window.
        ignored=("attention_bias", "mlp_bias", "sliding_window"),
        mixer=mixer,
        mixer_layers=n - attention,
        attention_layers=attention,
        **moe_fields,
    )


def _falcon_h1(c: _Config, name: str) -> ModelSpec:
    """Falcon-H1: attention and Mamba2 side by side in every layer, then a gated MLP."""
    n, hidden = c.req("num_hidden_layers"), c.req("hidden_size")
    inner = c.get("mamba_d_ssm", None) or c.get("mamba_expand", 2) * hidden
    mixer = _prefixed_mamba2(
        c,
        inner,
        out_bias=c.get("projectors_bias", False),
        out_norm=c.get("mamba_rms_norm", False),
    )
    # FalconH1Config has no sliding_window; its layer_types ("hybrid") keep vLLM's cache
    # config from any window, and vLLM's falcon_h1.py reads none.
    return _llama_like(
        c, name, ignored=("sliding_window",), mixer=mixer, mixer_layers=n, attention_layers=n
    )


def _granite_hybrid(c: _Config, name: str) -> ModelSpec:
    """Granite-4.0-H: Mamba2 or attention per `layer_types`; every layer an MoE plus a shared
    MLP (the shared MLP alone when there are no experts)."""
    # transformers 5 writes the published mamba/attention as linear_attention/full_attention
    # (GraniteMoeHybridConfig normalizes layer_types): both spellings are read.
    spelled = {"linear_attention": "mamba", "full_attention": "attention"}
    kinds = [
        spelled.get(k, k) if isinstance(k, str) else k for k in c.req("layer_types", kind=list)
    ]
    counts = layer_counts(c, kinds, "layer_types", {"mamba", "attention"})
    hidden = c.req("hidden_size")
    inner = c.get("mamba_expand", 2) * hidden
    mixer = _prefixed_mamba2(c, inner, out_bias=c.get("mamba_proj_bias", False))
    shared = c.get("shared_intermediate_size", 1024)
    experts = c.get("num_local_experts", 8)
    mlp: dict[str, Any] = {"intermediate_size": shared}
    if experts:
        mlp = dict(
            num_experts=experts,
            experts_per_token=c.get("num_experts_per_tok", 2),
            expert_intermediate_size=c.req("intermediate_size"),
            shared_intermediate_size=shared,
        )
    return _llama_like(
        c,
        name,
        # GraniteMoeHybridConfig has neither key: vLLM's granitemoehybrid.py builds its shared
        # MLP without a bias, and its layer_types (Mamba and attention) keep vLLM's cache
        # config from any window.
        ignored=("mlp_bias", "sliding_window"),
        mixer=mixer,
        mixer_layers=counts["mamba"],
        attention_layers=counts["attention"],
        **mlp,
    )


def _bamba(c: _Config, name: str) -> ModelSpec:
    """Bamba (transformers' BambaDecoderLayer): Mamba2 in every layer but those of
    `attn_layer_indices` (0-based; absent, none), which hold GQA attention; a SwiGLU MLP in
    every layer."""
    n, hidden = c.req("num_hidden_layers"), c.req("hidden_size")
    where = f"config.json of model_type {c.model_type!r}"
    for key in ("layer_types", "layers_block_type"):
        if c.raw.get(key) is not None:
            # BambaConfig derives the layout from attn_layer_indices; it cannot set these.
            raise ModelConfigError(
                f"{where}: {key} is not read; the layout is attn_layer_indices (the 0-based "
                "attention layers)"
            )
    indices = c.get("attn_layer_indices", [])
    if any(type(i) is not int or not 0 <= i < n for i in indices):
        raise ModelConfigError(
            f"{where}: attn_layer_indices={indices!r} is invalid: expected a JSON array of "
            f"layer indices from 0 to num_hidden_layers - 1 = {n - 1}"
        )
    attention = len(set(indices))
    act = c.get("hidden_act", "silu")
    if act != "silu":
        # vLLM's BambaMLP and the causal-conv1d kernel run SiLU only.
        raise ModelConfigError(f"{where}: hidden_act={act!r} is not supported; supported: 'silu'")
    heads = c.req("num_attention_heads")
    head_dim = c.head_dim(hidden, heads)
    for key, value, engines in (
        ("attention_bias", c.get("attention_bias", False), False),
        ("mlp_bias", c.get("mlp_bias", False), False),
        ("head_dim", head_dim, c.per_head(hidden, heads)),
    ):
        if value != engines:
            # transformers' BambaAttention and BambaMLP read these; vLLM's Bamba builds no
            # biases and hidden_size / num_attention_heads wide heads.
            raise ModelConfigError(
                f"{where}: {key}={value!r} is not supported; supported: {engines!r} (vLLM's "
                "Bamba builds that whatever the config says)"
            )
    inner = c.positive("mamba_expand", 2) * hidden
    mixer = _prefixed_mamba2(c, inner, out_bias=c.get("mamba_proj_bias", False))
    if mixer.value_width != inner:
        # BambaConfig refuses it (validate_architecture): in_proj is built at the inner width.
        raise ModelConfigError(
            f"{where}: mamba_n_heads={mixer.num_heads} x mamba_d_head={mixer.head_dim} is "
            f"invalid: expected mamba_expand x hidden_size = {inner}"
        )
    return _llama_like(
        c,
        name,
        # BambaConfig has no sliding_window; transformers' cache takes none from its
        # layer_types, and vLLM no longer serves Bamba (removed in 0.23).
        ignored=("sliding_window",),
        head_dim=head_dim,
        num_kv_heads=c.get("num_key_value_heads", 8),
        max_positions=c.get("max_position_embeddings", 262144),
        # Every layer attention: a plain transformer.
        mixer=mixer if attention < n else None,
        mixer_layers=n - attention,
        attention_layers=attention if attention < n else None,
    )


def _minimax(c: _Config, name: str) -> ModelSpec:
    """MiniMax-Text-01/M1: lightning attention with full softmax attention every 8th layer
    (`layer_types`, or the original `attn_type_list`: 0 lightning, 1 softmax), every layer MoE."""
    n = c.req("num_hidden_layers")
    kinds = c.raw.get("layer_types")
    if kinds is None and c.raw.get("attn_type_list") is not None:
        codes = c.req("attn_type_list", kind=list)
        if any(type(k) is not int or k not in (0, 1) for k in codes):
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: attn_type_list={codes!r} is "
                "invalid: expected 0 (lightning) or 1 (softmax) for each layer"
            )
        kinds = ["full_attention" if k else "linear_attention" for k in codes]
    if kinds is None:  # the transformers default alternates
        kinds = ["full_attention" if (i + 1) % 2 else "linear_attention" for i in range(n)]
    counts = layer_counts(c, kinds, "layer_types", {"linear_attention", "full_attention"})
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    head_dim = c.head_dim(hidden, heads)
    mixer = c.built(
        Mixer,
        {"chunk_size": "block_size"},
        kind="lightning",
        num_heads=heads,
        head_dim=head_dim,
        num_key_heads=heads,
        key_dim=head_dim,
        chunk_size=c.get("block_size", 256),
    )
    return _llama_like(
        c,
        name,
        # MiniMaxConfig declares neither bias and transformers' MiniMax builds none; vLLM no
        # longer serves MiniMax-Text-01 (removed in 0.23).
        ignored=("attention_bias", "mlp_bias"),
        head_dim=head_dim,
        num_experts=c.get("num_local_experts", 8),
        experts_per_token=c.get("num_experts_per_tok", 2),
        expert_intermediate_size=c.req("intermediate_size"),
        mixer=mixer,
        mixer_layers=counts["linear_attention"],
        attention_layers=counts["full_attention"],
    )


def kda_mixer(
    c: _Config,
    keys: dict[str, str],
    *,
    heads: int,
    head_dim: int,
    conv_kernel: int,
    low_rank: int = 0,
    full_rank_gate: bool = False,
    full_rank_decay: bool = False,
) -> Mixer:
    """Kimi Delta Attention as fla's kernels run it (chunks of 64): `heads` query, key and value
    heads alike of `head_dim`, a short conv of `conv_kernel` over q, k and v, its decay and
    output gates through a rank-`low_rank` bottleneck or full-rank. `keys` names the config
    keys heads, head_dim and conv_kernel were read from (Kimi Linear's nested ones, Ling 3's
    top-level ones), for the refusals; the bottleneck is head_dim wide in both families."""
    named = {
        "num_heads": keys["heads"],
        "num_key_heads": keys["heads"],
        "head_dim": keys["head_dim"],
        "key_dim": keys["head_dim"],
        "low_rank": keys["head_dim"],
        "conv_kernel": keys["conv_kernel"],
    }
    return c.built(
        Mixer,
        named,
        kind="kda",
        num_heads=heads,
        head_dim=head_dim,
        num_key_heads=heads,
        key_dim=head_dim,
        conv_kernel=conv_kernel,
        low_rank=low_rank,
        full_rank_gate=full_rank_gate,
        full_rank_decay=full_rank_decay,
        chunk_size=64,
    )


def _kimi_linear(c: _Config, name: str) -> ModelSpec:
    """Kimi Linear: Kimi Delta Attention and MLA (no rotary) 3:1 (`linear_attn_config`'s
    1-based `kda_layers`/`full_attn_layers`), DeepSeek-style MoE after `first_k_dense_replace`
    dense layers."""
    n = c.req("num_hidden_layers")
    linear = c.req("linear_attn_config", kind=dict)
    kinds = c.raw.get("layer_types")
    if kinds is None and "full_attn_layers" in linear:
        full = linear["full_attn_layers"]
        if not isinstance(full, list) or any(type(i) is not int or not 1 <= i <= n for i in full):
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: linear_attn_config."
                f"full_attn_layers={full!r} is invalid: expected a JSON array of layer numbers "
                f"from 1 to num_hidden_layers={n}"
            )
        kinds = ["full_attention" if i + 1 in full else "linear_attention" for i in range(n)]
    if kinds is None:  # the transformers default
        kinds = ["full_attention" if i and i % 4 == 0 else "linear_attention" for i in range(n)]
    counts = layer_counts(c, kinds, "layer_types", {"linear_attention", "full_attention"})
    heads, dim = linear.get("num_heads", 32), linear.get("head_dim", 128)
    keys = {
        "heads": "linear_attn_config.num_heads",
        "head_dim": "linear_attn_config.head_dim",
        "conv_kernel": "linear_attn_config.short_conv_kernel_size",
    }
    mixer = kda_mixer(
        c,
        keys,
        heads=heads,
        head_dim=dim,
        conv_kernel=c.section("linear_attn_config").positive("short_conv_kernel_size", 4),
        # The decay and output gates go through a head_dim-wide bottleneck (f_a/f_b, g_a/g_b);
        # Kimi K3's output gate is one full-rank projection (g_proj).
        low_rank=dim,
        full_rank_gate=_flag(c, linear, "use_full_rank_gate"),
    )
    latent = c.get("routed_expert_hidden_size", 0) or None
    if latent is not None and not c.get("latent_moe_use_norm", True):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: latent_moe_use_norm=false is not "
            "supported (rooflens prices the latent MoE with its RMSNorm)"
        )
    nope, rope = c.req("qk_nope_head_dim"), c.req("qk_rope_head_dim")
    expert = c.req("moe_intermediate_size")
    shared = c.get("num_shared_experts", 1)
    return _llama_like(
        c,
        name,
        # KimiLinearConfig has neither key: vLLM's KimiLinear (models/kimi_k3) builds no MLP
        # bias, and its MLA takes no window.
        ignored=("mlp_bias", "sliding_window"),
        head_dim=nope + rope,
        num_kv_heads=c.req("num_attention_heads"),
        q_lora_rank=c.raw.get("q_lora_rank"),
        kv_lora_rank=c.req("kv_lora_rank"),
        qk_rope_head_dim=rope,
        v_head_dim=c.req("v_head_dim"),
        num_experts=c.req("num_experts"),
        experts_per_token=c.req("num_experts_per_token", "num_experts_per_tok"),
        expert_intermediate_size=expert,
        shared_intermediate_size=expert * shared or None,
        # Sigmoid routing with a per-expert score correction bias, as DeepSeek-V3.
        router_bias=True,
        dense_layers=c.get("first_k_dense_replace", 1),
        mixer=mixer,
        mixer_layers=counts["linear_attention"],
        attention_layers=counts["full_attention"],
        # Kimi K3: a sigmoid gate on MLA's output (g_proj), routed experts in a latent width,
        # Block Attention Residuals.
        attention_output_gate=c.get("mla_use_output_gate", False),
        expert_latent_size=latent,
        attn_res_block=c.get("attn_res_block_size", 0) or None,
    )


def _lfm2_layer_counts(c: _Config, moe: bool) -> dict[str, int]:
    """LFM2's `layer_types` ("conv" or "full_attention" per layer); without it, dense LFM2's
    `full_attn_idxs` (0-based; absent, every layer attention), as Lfm2Config derives them.
    Lfm2MoeConfig derives nothing: its model indexes `layer_types`."""
    n = c.req("num_hidden_layers")
    kinds = c.raw.get("layer_types")
    if kinds is None and moe:
        kinds = c.req("layer_types", kind=list)
    if kinds is None:
        full = c.raw.get("full_attn_idxs")
        if full is None:
            full = list(range(n))
        if not isinstance(full, list) or any(type(i) is not int or not 0 <= i < n for i in full):
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: full_attn_idxs={full!r} is "
                f"invalid: expected a JSON array of layer indices from 0 to "
                f"num_hidden_layers - 1 = {n - 1}"
            )
        kinds = ["full_attention" if i in full else "conv" for i in range(n)]
    return layer_counts(c, kinds, "layer_types", {"conv", "full_attention"})


def _lfm2_mlp_width(c: _Config) -> int:
    """Dense LFM2's MLP width (transformers' Lfm2MLP): `block_ff_dim` (which Lfm2Config reads
    over `intermediate_size`), with `block_auto_adjust_ff_dim` two thirds of it, times
    `block_ffn_dim_multiplier`, rounded up to a multiple of `block_multiple_of`."""
    declared = width = c.req("block_ff_dim", "intermediate_size")
    if not c.get("block_auto_adjust_ff_dim", True):
        return width
    where = f"config.json of model_type {c.model_type!r}"
    if "block_ffn_dim_multiplier" in c.raw and c.raw["block_ffn_dim_multiplier"] is None:
        # Lfm2MLP then skips the multiplier and the rounding; transformers 5's Lfm2Config
        # refuses it (a number is required), so the two disagree.
        raise ModelConfigError(
            f"{where}: block_ffn_dim_multiplier=None is not supported with "
            "block_auto_adjust_ff_dim; supported: a positive number"
        )
    multiplier = c.get("block_ffn_dim_multiplier", 1.0)
    if multiplier <= 0:
        raise ModelConfigError(
            f"{where}: block_ffn_dim_multiplier={multiplier!r} is invalid: expected a positive "
            "number"
        )
    multiple = c.positive("block_multiple_of", 256)
    # Python's float arithmetic and truncation, as Lfm2MLP computes them.
    width = int(multiplier * int(2 * width / 3))
    width = multiple * ((width + multiple - 1) // multiple)
    if width < 1:
        raise ModelConfigError(
            f"{where}: the MLP width {declared} (block_ff_dim or intermediate_size) "
            "auto-adjusts to 0 (block_auto_adjust_ff_dim): expected a wider one"
        )
    return width


def _lfm2_read(c: _Config, name: str, moe: bool) -> ModelSpec:
    """LFM2 (transformers' Lfm2 and Lfm2Moe): gated short convolutions (in_proj h -> 3h: B, C,
    x; C * conv(B * x); out_proj) in the "conv" layers, GQA with per-head q/k RMSNorms in the
    others, a SwiGLU MLP in every layer (LFM2-MoE: dense in the first `num_dense_layers`, else
    sigmoid-routed experts with a per-expert selection bias)."""
    n, hidden = c.req("num_hidden_layers"), c.req("hidden_size")
    counts = _lfm2_layer_counts(c, moe)
    for key in ("conv_dim", "block_dim"):
        # transformers builds both at hidden_size whatever these say; vLLM's Lfm2 builds the
        # short convolution (conv_dim) and the MLP (block_dim) at their width.
        value = c.raw.get(key)
        if value is not None and value != hidden:
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: {key}={value!r} is not "
                f"supported; supported: hidden_size={hidden} (or absent)"
            )
    # One flag for the biases of in_proj, the conv and out_proj (Lfm2ShortConv).
    bias = c.get("conv_bias", False)
    conv = c.positive("conv_L_cache", 3, MAX_WIDTH)
    mixer = None
    if counts["conv"]:
        mixer = c.built(
            Mixer,
            {"num_heads": "hidden_size", "conv_kernel": "conv_L_cache"},
            kind="short_conv",
            num_heads=hidden,
            head_dim=1,
            num_key_heads=1,
            key_dim=1,
            conv_kernel=conv,
            in_bias=bias,
            out_bias=bias,
            conv_bias=bias,
            out_norm=False,
        )
    fields: dict[str, Any] = {}
    if not moe:
        # The width Lfm2MLP builds stands for the config's own.
        c = _Config({**c.raw, "intermediate_size": _lfm2_mlp_width(c)}, c.model_type)
    else:
        # Lfm2MoeMLP takes intermediate_size as it is: no auto-adjustment.
        dense = c.count("num_dense_layers", 2)
        if dense < n:
            fields = dict(
                num_experts=c.positive("num_experts", 32, MAX_COUNT),
                experts_per_token=c.positive("num_experts_per_tok", 4, MAX_COUNT),
                expert_intermediate_size=c.positive("moe_intermediate_size", 1792, MAX_WIDTH),
                # Sigmoid scores plus a per-expert bias choose the experts (Lfm2MoeTopKRouter):
                # E values, stored in the checkpoint, counted as the router's bias.
                router_bias=c.get("use_expert_bias", True),
                dense_layers=dense,
            )
    return _llama_like(
        c,
        name,
        num_kv_heads=c.get("num_key_value_heads", 8),
        max_positions=c.get("max_position_embeddings", 128_000),
        # Lfm2Config reads tie_embedding over tie_word_embeddings.
        tied_embeddings=c.get("tie_embedding", c.get("tie_word_embeddings", True)),
        # Fixed by the model, whatever the config says: SwiGLU, no biases, no window.
        activation="silu",
        qkv_bias=False,
        out_bias=False,
        mlp_bias=False,
        sliding_window=None,
        qk_norm=True,
        mixer=mixer,
        mixer_layers=counts["conv"],
        # Without conv layers LFM2 is a plain transformer.
        attention_layers=counts["full_attention"] if counts["conv"] else None,
        **fields,
    )


def _lfm2(c: _Config, name: str) -> ModelSpec:
    return _lfm2_read(c, name, moe=False)


def _lfm2_moe(c: _Config, name: str) -> ModelSpec:
    return _lfm2_read(c, name, moe=True)


def _flag(c: _Config, section: dict[str, Any], key: str) -> bool:
    """A boolean of a nested section (linear_attn_config), false where absent."""
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {key}={value!r} is invalid: "
            "expected true or false"
        )
    return value


HYBRID_READERS: dict[str, Callable[[_Config, str], ModelSpec]] = {
    "qwen3_next": _qwen3_next,
    "qwen3_5": _qwen3_5,
    "qwen3_5_text": _qwen3_5,
    "qwen3_5_moe": _qwen3_5_moe,
    "qwen3_5_moe_text": _qwen3_5_moe,
    "nemotron_h": _nemotron_h,
    "jamba": _jamba,
    "falcon_h1": _falcon_h1,
    "granitemoehybrid": _granite_hybrid,
    "bamba": _bamba,
    "olmo_hybrid": _olmo_hybrid,
    "minimax": _minimax,
    "kimi_linear": _kimi_linear,
    "lfm2": _lfm2,
    "lfm2_moe": _lfm2_moe,
}
