"""Step 3.5 Flash and Step 3.7 Flash (StepFun, 2026; transformers' Step3p7TextConfig, model_type
step3p5, wrapped with a vision tower in step3p7's text_config): GQA with per-head q/k RMSNorms
and a sigmoid gate per head (g_proj), full-attention layers beside sliding-window layers with
more query heads (attention_other_setting), dense MLPs in the layers the MoE list leaves out and
elsewhere an MoE with one shared expert and a score-correction router bias, and MTP modules
that keep a head of their own (vLLM's Step3p5MTP)."""

from __future__ import annotations

from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like, layer_counts
from rooflens.models.readers.common import text_config

_ATTENTION = ("full_attention", "sliding_attention")

# Why Step 3.7's vision tower is not priced (images are refused with this reason).
STEP3P7_VISION_LEFT_OUT = (
    "Step 3.7's tower (transformers' Step3p7VisionModel) is not one rooflens prices: its "
    "layers scale both branches by learned per-channel factors (ls_init_value), two stride-2 "
    "3x3 convolutions with biases (downsampler1, downsampler2) feed a projector without one, "
    "and an image wider than 728 pixels is split into a global view and 504 x 504 local "
    "crops, each encoded as its own sequence"
)


def _refuse(c: _Config, field: str, value: object, supported: str) -> ModelConfigError:
    return ModelConfigError(
        f"config.json of model_type {c.model_type!r}: {field}={value!r} is not supported; "
        f"supported: {supported}"
    )


def _spelled(c: _Config, key: str, other: str) -> str:
    """`key`, or its other spelling where only that one is given: the key a value is read
    from, for its refusal."""
    return other if c.raw.get(key) is None and c.raw.get(other) is not None else key


def _per_layer(c: _Config, field: str, layers: int, mtp: int) -> tuple[list[Any], list[Any]]:
    """A per-layer list (`layer_types`, `mlp_layer_types`): the decoder's `layers` entries and
    the MTP layers' after them. Published configs pad the list with one entry per MTP layer;
    transformers' saved configs keep those apart (`mtp_layer_types`, `mtp_mlp_layer_types`)."""
    kinds = c.raw[field]
    if not isinstance(kinds, list) or len(kinds) not in (layers, layers + mtp):
        size = len(kinds) if isinstance(kinds, list) else kinds
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {field} has {size!r} entries for "
            f"num_hidden_layers={layers} and num_nextn_predict_layers={mtp}: expected "
            f"{layers}, or {layers + mtp} with the MTP layers'"
        )
    own, mtp_kinds = kinds[:layers], kinds[layers:]
    if mtp and not mtp_kinds:
        mtp_kinds = c.raw.get(f"mtp_{field}")
        if not isinstance(mtp_kinds, list) or len(mtp_kinds) != mtp:
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: {field} has {layers} entries and "
                f"mtp_{field}={mtp_kinds!r}: expected the {mtp} MTP layers' entries in either"
            )
    return own, mtp_kinds


def _moe_flags(c: _Config, layers: int, mtp: int) -> tuple[list[bool], list[bool]]:
    """Which decoder and MTP layers hold an MoE: `mlp_layer_types` ("sparse"/"dense",
    transformers' spelling) or `moe_layers_enum` (the published indices, over the MTP layers
    too). Neither is refused: transformers makes layers 3 on MoE, vLLM's Step3p5 layers 1 on."""
    if c.raw.get("mlp_layer_types") is not None:
        own, extra = _per_layer(c, "mlp_layer_types", layers, mtp)
        layer_counts(c, own, "mlp_layer_types", ("dense", "sparse"))
        if any(kind not in ("dense", "sparse") for kind in extra):
            raise _refuse(c, "mtp_mlp_layer_types", extra, "dense, sparse")
        return [k == "sparse" for k in own], [k == "sparse" for k in extra]
    listed = c.raw.get("moe_layers_enum")
    if listed is None:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r} names its MoE layers neither in "
            "mlp_layer_types nor in moe_layers_enum: transformers' Step3p7 would make layers 3 "
            "on MoE, vLLM's Step3p5 layers 1 on; supported: either list"
        )
    items = listed.split(",") if isinstance(listed, str) else listed
    padded = layers + mtp
    # Indices as text ("3,4,5") or JSON integers: int() read 1.5 as 1 and true as 1.
    index_like = (str, int)
    try:
        indices = (
            {int(i) for i in items if str(i).strip()}
            if isinstance(items, list)
            and all(isinstance(i, index_like) and not isinstance(i, bool) for i in items)
            else None
        )
    except ValueError:
        indices = None
    if indices is None or any(not 0 <= i < padded for i in indices):
        raise _refuse(
            c, "moe_layers_enum", listed, f"layer indices from 0 to {padded - 1}, comma-separated"
        )
    flags = [i in indices for i in range(padded)]
    return flags[:layers], flags[layers:]


def _sliding_shape(c: _Config, heads: int, kv_heads: int, head_dim: int) -> int:
    """The sliding layers' query heads: `num_sliding_attention_heads` (transformers) or
    `attention_other_setting.num_attention_heads` (published). Their KV heads and head size
    must be the full layers': transformers' Step3p7 gives every layer the config's, vLLM's
    Step3p5 the sliding ones attention_other_setting's."""
    # Read as its keys' types: 8.0 or true had passed as the full layers' 8 and 1.
    other = c.section("attention_other_setting")
    for key, value in (("num_attention_groups", kv_heads), ("head_dim", head_dim)):
        if other.get(key, value) != value:
            raise _refuse(
                c, f"attention_other_setting.{key}", other.raw[key], f"{value}, the full layers'"
            )
    if other.raw.get("attention_type", "sliding_attention") != "sliding_attention":
        field = "attention_other_setting.attention_type"
        raise _refuse(c, field, other.raw["attention_type"], "sliding_attention")
    if c.raw.get("num_sliding_attention_heads") is not None:
        return c.positive("num_sliding_attention_heads", maximum=MAX_COUNT)
    return other.positive("num_attention_heads", heads, MAX_COUNT)


def read_step3p5(c: _Config, name: str) -> ModelSpec:
    """Step 3.5/3.7's language model (transformers' Step3p7TextModel; vLLM's Step3p5)."""
    layers = c.positive("num_hidden_layers")
    mtp = c.count("num_nextn_predict_layers", c.count("num_mtp_layers"))
    # The published checkpoints' settings, which vLLM's Step3p5 asserts or builds regardless
    # (q/k norms, router bias); another is a model rooflens does not price.
    accepted_flags = {
        "use_head_wise_attn_gate": True,
        "use_qk_norm": True,
        "use_moe_router_bias": True,
        "use_bidirectional_attention": False,
        "mlp_bias": False,
        "sink": False,
    }
    for flag, accepted in accepted_flags.items():
        if c.get(flag, accepted) != accepted:
            raise _refuse(c, flag, c.raw[flag], str(accepted).lower())
    if c.get("att_impl_type", "GQA") != "GQA":
        raise _refuse(c, "att_impl_type", c.raw["att_impl_type"], "GQA")
    gating = c.raw.get("gating", True)
    # `is True`: 1 and 1.0 compare equal to true.
    if gating is not True and gating != "per-head":
        raise _refuse(c, "gating", c.raw["gating"], "true or 'per-head' (one gate per head)")
    if c.raw.get("layer_types") is not None:
        kinds, mtp_kinds = _per_layer(c, "layer_types", layers, mtp)
    else:  # transformers: every layer full attention, the MTP layers too
        kinds, mtp_kinds = ["full_attention"] * layers, ["full_attention"] * mtp
    sliding = layer_counts(c, kinds, "layer_types", _ATTENTION)["sliding_attention"]
    heads = c.positive("num_attention_heads", maximum=MAX_COUNT)
    c.req("num_attention_groups", "num_key_value_heads")  # absent, both spellings are named
    kv_key = _spelled(c, "num_attention_groups", "num_key_value_heads")
    kv_heads = c.positive(kv_key)
    if heads % kv_heads:
        # Checked here: the full layers' heads become global_heads where the window layers
        # have more, whose refusal named rooflens's field.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: num_attention_heads={heads} is "
            f"invalid: expected a multiple of {kv_key}={kv_heads}"
        )
    head_dim = c.positive("head_dim", 128)
    window: dict[str, Any] = {"num_heads": heads, "sliding_window": None}
    if sliding:
        if c.raw.get("sliding_window") is None:
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: sliding_window=None is invalid "
                f"for the {sliding} sliding_attention layers of layer_types: expected a window"
            )
        window = {
            "num_heads": _sliding_shape(c, heads, kv_heads, head_dim),
            "sliding_window": c.positive("sliding_window"),
            "window_layers": sliding,
        }
        if window["num_heads"] != heads:
            # The full layers as global layers of their own query-head count.
            window |= {
                "global_head_dim": head_dim,
                "global_kv_heads": kv_heads,
                "global_heads": heads,
            }
    # An MTP module runs one layer of the window layers' shape, as rooflens prices it.
    expected = "sliding_attention" if sliding else "full_attention"
    if any(kind != expected for kind in mtp_kinds):
        raise _refuse(c, "layer_types (its MTP layers' entries)", mtp_kinds, repr(expected))
    moe, mtp_moe = _moe_flags(c, layers, mtp)
    if len(set(mtp_moe)) > 1:
        raise _refuse(c, "MTP layers' MLPs", mtp_moe, "all dense or all MoE")
    experts: dict[str, Any] = {}
    if any(moe):
        shared_key = _spelled(c, "share_expert_dim", "share_expert_dims")
        shared = c.get(shared_key, 1280)
        if not 0 <= shared <= MAX_WIDTH:
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: {shared_key}={shared} is "
                f"invalid: expected a width of 0 (no shared expert) to {MAX_WIDTH:,}"
            )
        experts_key = _spelled(c, "moe_num_experts", "n_routed_experts")
        top_k_key = _spelled(c, "moe_top_k", "num_experts_per_tok")
        experts = dict(
            num_experts=c.positive(experts_key, 288, MAX_COUNT),
            experts_per_token=c.positive(top_k_key, 8, MAX_COUNT),
            expert_intermediate_size=c.positive("moe_intermediate_size", 1280, MAX_WIDTH),
            shared_intermediate_size=shared or None,
            # Sigmoid routing with a per-expert score-correction bias (vLLM's router_bias).
            router_bias=True,
            dense_layers=layers - sum(moe),
            mtp_dense_mlp=bool(mtp) and not mtp_moe[0],
        )
    elif any(mtp_moe):
        raise _refuse(c, "MTP layers' MLPs", "MoE", "dense, as the model's layers are")
    raw = {**c.raw, "num_key_value_heads": kv_heads, "head_dim": head_dim}
    return _llama_like(
        _Config(raw, c.model_type),
        name,
        norm_offset=True,  # Step3p7RMSNorm: output * (1.0 + self.weight.float())
        max_positions=c.get("max_position_embeddings", 128000),
        # Step3p7TextConfig computes every MLP as SiLU-gated (its swiglu_limits clamps are not
        # priced) whatever hidden_act says.
        activation="silu",
        qk_norm=True,
        attention_head_gate=True,
        mtp_layers=mtp,
        # vLLM's Step3p5MTP reads the main model's embedding; each module keeps its own
        # shared_head (a norm and an output head).
        mtp_own_embeddings=False,
        mtp_own_head=True,
        **window,
        **experts,
    )


def read_step3p7(c: _Config, name: str) -> ModelSpec:
    """Step 3.7 Flash: the step3p5 language model of `text_config`; its vision tower is left
    out (STEP3P7_VISION_LEFT_OUT)."""
    text = text_config(c, "step3p5")
    if text.model_type not in ("step3p5", "step3p7"):
        raise _refuse(c, "text_config.model_type", text.model_type, "step3p5")
    spec = read_step3p5(_Config(text.raw, "step3p5"), name)
    return spec.model_copy(
        update={"model_type": c.model_type, "vision_left_out": STEP3P7_VISION_LEFT_OUT}
    )
