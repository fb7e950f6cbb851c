"""MiniMax-M2 (2025): full attention with q/k RMSNorms over the whole projection, and an MoE of
`num_local_experts` with a score-correction bias, top-8 (transformers' MiniMaxM2Config).
MiniMax-M3 (2026): per-head q/k norms, MiniMax Sparse Attention, dense then MoE layers."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like


def _qk_norm_whole(c: _Config, default: str) -> bool:
    """Whether the q/k norms span the whole projection (`qk_norm_type` "per_layer") or each
    head ("per_head"); any other value was read as the other kind."""
    kind = c.raw.get("qk_norm_type", default)
    if kind not in ("per_head", "per_layer"):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: qk_norm_type={kind!r} is invalid: "
            "expected 'per_head' or 'per_layer'"
        )
    return kind == "per_layer"


def read_minimax_m2(c: _Config, name: str) -> ModelSpec:
    expert = c.req("intermediate_size")
    return _llama_like(
        c,
        name,
        # MiniMaxM2Config has none of the three: vLLM's minimax_m2.py builds no MLP bias,
        # biases q/k/v where attention_bias and windows every layer by a sliding_window.
        ignored=("mlp_bias",),
        refused=("attention_bias", "sliding_window"),
        qk_norm=c.get("use_qk_norm", True),
        qk_norm_whole=_qk_norm_whole(c, "per_layer"),
        num_experts=c.req("num_local_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=expert,
        router_bias=c.get("use_routing_bias", True),
        # use_mtp/num_mtp_modules describe training: the released checkpoints ship no MTP
        # weights (their 228,689,764,864 parameters are the main model's), so none are read.
    )


def read_minimax_m3(c: _Config, name: str) -> ModelSpec:
    """MiniMax-M3 (transformers' MiniMaxM3VLTextConfig): GQA with per-head q/k RMSNorms and
    partial rotary, MiniMax Sparse Attention in the layers `sparse_attention_config` flags
    (core.block_sparse), dense MLPs in the layers `moe_layer_freq` leaves 0 and an MoE with one
    shared expert in the others, gpt-oss's clamped SwiGLU, and MTP modules."""
    layers = c.positive("num_hidden_layers")
    moe = c.layer_flags("moe_layer_freq", c.get("moe_layer_freq", [1] * layers), layers)
    dense = layers - sum(moe)
    if moe[dense:] != [1] * (layers - dense):
        # rooflens places dense layers first (first_k_dense_replace), as M3's are.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: moe_layer_freq={moe!r} is not "
            "supported: expected the dense layers (0) first, then the MoE layers (1)"
        )
    # Read as its keys' types, each named in its place (true, not "x"; 128, not 128.0).
    sparse_cfg = c.section("sparse_attention_config")
    sparse, indexer = 0, dict[str, int]()
    if sparse_cfg.get("use_sparse_attention", False):
        freq = sparse_cfg.get("sparse_attention_freq", [1] * layers)
        sparse = sum(c.layer_flags("sparse_attention_config.sparse_attention_freq", freq, layers))
        if sparse_cfg.get("sparse_init_block", 0):
            raise ModelConfigError(
                f"config.json of model_type {c.model_type!r}: "
                "sparse_attention_config.sparse_init_block other than 0 is not supported"
            )
    if sparse:
        indexer = dict(
            index_heads=sparse_cfg.positive("sparse_num_index_heads", 4, MAX_COUNT),
            index_head_dim=sparse_cfg.positive("sparse_index_dim", 128, MAX_WIDTH),
            sparse_block=sparse_cfg.positive("sparse_block_size", 128),
            sparse_blocks=sparse_cfg.positive("sparse_topk_blocks", 16),
        )
    experts = c.req("num_local_experts")
    # The experts' width: moe_intermediate_size, else intermediate_size.
    has_own = c.raw.get("moe_intermediate_size") is not None
    expert = c.positive(
        "moe_intermediate_size" if has_own else "intermediate_size", maximum=MAX_WIDTH
    )
    shared = c.count("n_shared_experts", 1)
    activation = c.get("hidden_act", "swigluoai")
    return _llama_like(
        c,
        name,
        norm_offset=True,  # MiniMaxM3VLRMSNorm: output * (1.0 + self.weight.float())
        # MiniMaxM3VLTextConfig has none of the three; vLLM's minimax_m3 builds no bias, and
        # its layer_types (full) keep vLLM's cache config from any window.
        ignored=("attention_bias", "mlp_bias", "sliding_window"),
        activation="swiglu_oai" if activation == "swigluoai" else activation,
        intermediate_size=c.positive("dense_intermediate_size", 12288, MAX_WIDTH),
        qk_norm=c.get("use_qk_norm", True),
        qk_norm_whole=_qk_norm_whole(c, "per_head"),
        num_experts=experts,
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=expert,
        shared_intermediate_size=c.positive("shared_intermediate_size", expert, MAX_WIDTH) * shared
        or None,
        router_bias=c.get("use_routing_bias", True),
        dense_layers=dense,
        sparse_layers=sparse,
        mtp_layers=c.count("num_nextn_predict_layers"),
        **indexer,
    )
