"""Ling 3 and Ring 3 (inclusionAI, 2026; transformers' BailingHybridConfig and
BailingHybridForCausalLM, vLLM's BailingMoeV3ForCausalLM in bailing_moe_v3.py): Kimi Delta
Attention in most layers and MLA with a per-head output gate in the last of every
`layer_group_size`, a dense MLP in the first `first_k_dense_replace` layers, then DeepSeek-V3's
MoE (sigmoid scores with a score-correction bias, one shared MLP)."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like, layer_counts
from rooflens.models.hybrids import kda_mixer
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.v3_layout import dense_from_types, mla_fields, spelling

# The classes a bailing_hybrid config.json may name: Ling 2.5's BailingMoeV2_5ForCausalLM
# (vLLM's bailing_moe_linear.py: lightning attention) shares the model_type, not this block.
_CLASSES = ("BailingMoeV3ForCausalLM", "BailingHybridForCausalLM")


def _schedule(c: _Config, layers: int) -> dict[str, int]:
    """KDA ("linear_attention") and MLA ("full_attention") layers. transformers reads
    `layer_types`, else makes every `layer_group_size`-th layer MLA; vLLM's BailingMoeV3 reads
    `layer_group_size` alone and makes MLA, besides, every layer past the last whole group.
    A config on which the two disagree is refused."""
    group = c.positive("layer_group_size", 6)
    whole = layers // group * group
    vllm = [
        "full_attention" if (i + 1) % group == 0 or i >= whole else "linear_attention"
        for i in range(layers)
    ]
    kinds = c.get("layer_types", None)
    if kinds is None:
        kinds = [
            "full_attention" if (i + 1) % group == 0 else "linear_attention" for i in range(layers)
        ]
        if kinds != vllm:
            refuse(c, "layer_group_size", group,
                   f"a divisor of num_hidden_layers={layers}, or a layer_types list (vLLM's "
                   "BailingMoeV3 makes the layers past the last whole group MLA, transformers "
                   "KDA)")  # fmt: skip
    counts = layer_counts(c, kinds, "layer_types", ("linear_attention", "full_attention"))
    if kinds != vllm:
        refuse(c, "layer_types", kinds,
               f"the layers vLLM's BailingMoeV3 derives from layer_group_size={group}: MLA "
               f"every {group}th layer and past layer {whole}")  # fmt: skip
    return counts


def read_bailing_hybrid(c: _Config, name: str) -> ModelSpec:
    """BailingHybridConfig's defaults stand for absent keys. The KDA layers
    (BailingHybridDeltaAttention) are Kimi Linear's mixer with both gates full-rank: the decay
    (BailingHybridForgetGate's f_proj, h -> H*P) and the output gate (g_proj) are one
    projection each, no f_a/f_b, g_a/g_b bottleneck; `num_attention_heads` heads of `head_dim`
    for queries, keys and values alike. The MTP layers (`num_nextn_predict_layers`, after the
    decoder's in model.layers; transformers builds none) are DeepSeek-V3's module on an MLA and
    MoE block, reading the main model's embedding and head (vLLM's BailingMoeV3MTP loads both
    from them)."""
    architectures = c.raw.get("architectures")
    if architectures is not None and not (
        isinstance(architectures, list) and len(architectures) == 1 and architectures[0] in _CLASSES
    ):
        refuse(c, "architectures", architectures,
               f"['{_CLASSES[0]}'] or ['{_CLASSES[1]}'] (Ling 3's KDA and MLA hybrid)")  # fmt: skip
    if c.raw.get("no_kda_lora") is False:
        # vLLM's BailingMoeV3KimiDeltaAttention raises on it; transformers builds full rank.
        refuse(c, "no_kda_lora", False, "true or absent (the KDA gates are full-rank)")
    gate = c.raw.get("gated_attention_proj_granularity_type")
    if gate not in (None, "head_wise"):
        # transformers' BailingHybridAttention always builds the per-head g_proj (h -> heads).
        refuse(c, "gated_attention_proj_granularity_type", gate, "'head_wise' or absent")
    if c.get("attention_bias", False):
        refuse(c, "attention_bias", True,
               "false (transformers biases q_a_proj, kv_a_proj_with_mqa and o_proj, vLLM's "
               "BailingMoeV3MLAAttention nothing)")  # fmt: skip
    if c.get("use_bias", False):
        refuse(c, "use_bias", True,
               "false (vLLM's BailingMoeV3MLP biases the MLPs, transformers' none)")  # fmt: skip
    if c.get("tie_word_embeddings", False):
        refuse(c, "tie_word_embeddings", True,
               "false or absent (neither transformers' BailingHybridForCausalLM, which ties no "
               "weights, nor vLLM's BailingMoeV3 ties the head to the embedding)")  # fmt: skip
    if c.get("hidden_act", "silu") != "silu":
        # vLLM's MLPs run SiluAndMul and its KDA conv SiLU whatever hidden_act says.
        refuse(c, "hidden_act", c.raw["hidden_act"], "'silu'")
    expert = c.positive("moe_intermediate_size", 768, MAX_WIDTH)
    shared_width = c.get("moe_shared_expert_intermediate_size", expert)
    if shared_width != expert:
        refuse(c, "moe_shared_expert_intermediate_size", shared_width,
               f"moe_intermediate_size={expert} or absent (transformers' shared MLP is "
               "moe_intermediate_size wide per shared expert, vLLM's this key's)")  # fmt: skip
    layers = c.positive("num_hidden_layers")
    counts = _schedule(c, layers)
    heads = c.req("num_attention_heads")
    mixer = kda_mixer(
        c,
        {"heads": "num_attention_heads", "head_dim": "head_dim",
         "conv_kernel": "short_conv_kernel_size"},
        heads=heads,
        # The config's own head_dim (transformers' linear_head_dim); BailingHybridConfig then
        # sets head_dim to qk_rope_head_dim for its MLA.
        head_dim=c.positive("head_dim", 128, MAX_WIDTH),
        conv_kernel=c.positive("short_conv_kernel_size", 4),
        full_rank_gate=True,
        full_rank_decay=True,
    )  # fmt: skip
    shared = c.count(spelling(c, "num_shared_experts", "n_shared_experts"), 1)
    return _llama_like(
        c,
        name,
        # BailingHybridConfig has neither key, nor does vLLM's BailingMoeV3 read them.
        ignored=("mlp_bias", "sliding_window"),
        **mla_fields(c, nope=128, rope=64, v=128, kv_lora=512, q_lora=None),
        max_positions=c.get(spelling(c, "max_position_embeddings", "model_max_length"), 262144),
        mlp_bias=False,
        attention_head_gate=True,
        num_experts=c.positive(spelling(c, "num_experts", "num_local_experts"), 512, MAX_COUNT),
        experts_per_token=c.positive(
            spelling(c, "num_experts_per_tok", "num_experts_per_token"), 8, MAX_COUNT
        ),
        expert_intermediate_size=expert,
        # BailingHybridMoE.shared_experts: one MLP of moe_intermediate_size x n_shared_experts.
        shared_intermediate_size=expert * shared or None,
        router_bias=True,
        dense_layers=dense_from_types(c, 2, reads_first_k=True),
        # Every layer MLA (layer_group_size 1): a plain transformer.
        mixer=mixer if counts["linear_attention"] else None,
        mixer_layers=counts["linear_attention"],
        attention_layers=counts["full_attention"],
        mtp_layers=c.count(spelling(c, "num_nextn_predict_layers", "num_mtp_layers"), 1),
        mtp_own_embeddings=False,
    )
