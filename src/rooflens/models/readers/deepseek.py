"""DeepSeek-V3 descendants: DeepSeek-V3.2 and GLM-5 (DSA: a lightning indexer then MLA over
the top-k keys), Kimi K2 (the V3 layout at 384 experts), and GLM-4.5/4.6 (GQA attention with the V3
MoE layout) (transformers' DeepseekV32Config, Glm4MoeConfig)."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _deepseek, _deepseek_v3, _llama_like, layer_counts


def read_deepseek_v32(c: _Config, name: str) -> ModelSpec:
    # DeepseekV32Config (GlmMoeDsaConfig) has no sliding_window but layer_types without a
    # window kind, from which transformers' cache and vLLM's cache config both take no window.
    spec = _deepseek(c, name, ignored=("sliding_window",))
    return spec.model_copy(
        update={
            # 0 had cached index keys for an indexer that scored nothing.
            "index_heads": c.positive("index_n_heads", 64),
            "index_head_dim": c.positive("index_head_dim", 128, MAX_WIDTH),
            "index_topk": c.positive("index_topk", 2048),
        }
    )


def read_glm_moe_dsa(c: _Config, name: str) -> ModelSpec:
    """GLM-5: DeepSeek-V3.2's layout; `indexer_types` "shared" layers reuse the previous
    layer's top-k instead of running an indexer (GlmMoeDsaConfig's default: every layer)."""
    # GLM-5's MTP layer (model.layers.78) stores no embed_tokens or shared_head.head: it uses
    # the main model's embedding and lm_head.
    spec = read_deepseek_v32(c, name).model_copy(update={"mtp_own_embeddings": False})
    types = c.raw.get("indexer_types")
    if types is None:
        return spec.model_copy(update={"index_heads": c.positive("index_n_heads", 32)})
    # Each entry "full" or "shared" (GlmMoeDsaAttention runs an indexer where it is not
    # "shared"; "ful" had read as shared here, as full there).
    full = layer_counts(c, types, "indexer_types", ("full", "shared"))["full"]
    if types[0] != "full":
        # A shared layer reuses the top-k of the last full one before it; GlmMoeDsaAttention
        # raises without one ("Shared DSA layers require top-k indices from a previous full
        # indexer layer"), and a list without "full" had priced no indexer at all.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: indexer_types[0]={types[0]!r} is "
            f'not supported ({full} of {len(types)} layers "full"); supported: "full" '
            "first, as a shared layer reuses the top-k of a full layer before it"
        )
    return spec.model_copy(
        update={"index_heads": c.positive("index_n_heads", 32), "index_layers": full}
    )


def read_kimi_k2(c: _Config, name: str) -> ModelSpec:
    # Kimi K2 ships the DeepSeek-V3 architecture (its config names DeepseekV3ForCausalLM).
    return _deepseek_v3(c, name)


def read_glm4_moe(c: _Config, name: str) -> ModelSpec:
    if c.get("moe_layer_freq", 1) != 1:
        raise ModelConfigError(
            f"model_type {c.model_type!r}: moe_layer_freq other than 1 is not supported"
        )
    expert = c.req("moe_intermediate_size")
    shared = c.get("n_shared_experts", 1) or 0
    bias = c.get("attention_bias", False)
    return _llama_like(
        c,
        name,
        # Glm4MoeConfig has neither key: vLLM's glm4_moe.py builds no MLP bias, and windows
        # every layer by a sliding_window (its cache config).
        ignored=("mlp_bias",),
        refused=("sliding_window",),
        # q/k/v carry attention_bias, o_proj never (Glm4MoeAttention).
        qkv_bias=bias,
        out_bias=False,
        qk_norm=c.get("use_qk_norm", False),
        num_experts=c.req("n_routed_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=expert,
        shared_intermediate_size=expert * shared or None,
        # Routed with a learned per-expert score correction (e_score_correction_bias).
        router_bias=True,
        dense_layers=c.get("first_k_dense_replace", 1),
        mtp_layers=c.count("num_nextn_predict_layers", c.count("num_mtp_layers")),
    )
