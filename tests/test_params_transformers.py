"""Each reader's parameter count equals that of the transformers model built from the same
tiny config (on the meta device: shapes only, no weights, no network): the hybrids and the MoE
families of 2024-2025."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import transformers

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.vision import vision_params
from rooflens.models import spec_from_config

SMALL = {"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100}

# Gated DeltaNet's heads, the same in each Qwen3-Next / Qwen3.5 case.
GATED_DELTANET = {
    "linear_num_key_heads": 2,
    "linear_num_value_heads": 4,
    "linear_key_head_dim": 8,
    "linear_value_head_dim": 12,
}

CASES: dict[str, dict[str, Any]] = {
    "qwen3_next": SMALL
    | {
        "num_hidden_layers": 4,
        "head_dim": 16,
        "intermediate_size": 96,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 48,
        **GATED_DELTANET,
    },
    "qwen3_5_text": SMALL
    | {
        "num_hidden_layers": 4,
        "head_dim": 16,
        "intermediate_size": 96,
        **GATED_DELTANET,
    },
    "qwen3_5_moe_text": SMALL
    | {
        "num_hidden_layers": 4,
        "head_dim": 16,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 48,
        **GATED_DELTANET,
    },
    "nemotron_h": SMALL
    | {
        "num_hidden_layers": 5,
        "hybrid_override_pattern": "M-M*-",
        "head_dim": 16,
        "intermediate_size": 96,
        "mamba_num_heads": 8,
        "mamba_head_dim": 8,
        "n_groups": 2,
        "ssm_state_size": 16,
    },
    "nemotron_h:moe": SMALL
    | {
        "num_hidden_layers": 6,
        "hybrid_override_pattern": "MEM*E-",
        "head_dim": 16,
        "intermediate_size": 96,
        "mamba_num_heads": 8,
        "mamba_head_dim": 8,
        "n_groups": 2,
        "ssm_state_size": 16,
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 24,
        "moe_shared_expert_intermediate_size": 40,
    },
    "jamba": SMALL
    | {
        "num_hidden_layers": 4,
        "attn_layer_period": 4,
        "attn_layer_offset": 2,
        "intermediate_size": 96,
        "num_experts": 4,
        "mamba_d_state": 8,
        "mamba_dt_rank": 8,
    },
    "falcon_h1": SMALL
    | {
        "num_hidden_layers": 3,
        "head_dim": 16,
        "intermediate_size": 96,
        "mamba_d_ssm": 96,
        "mamba_n_heads": 6,
        "mamba_d_head": 16,
        "mamba_n_groups": 2,
        "mamba_d_state": 8,
        "mamba_rms_norm": True,
    },
    "granitemoehybrid": SMALL
    | {
        "num_hidden_layers": 4,
        "layer_types": ["mamba", "attention", "mamba", "mamba"],
        "intermediate_size": 32,
        "shared_intermediate_size": 48,
        "num_local_experts": 4,
        "mamba_n_heads": 8,
        "mamba_d_head": 16,
        "mamba_d_state": 16,
    },
    # As transformers 5 writes the same layers (linear_attention / full_attention).
    "granitemoehybrid:transformers_spelling": SMALL
    | {
        "num_hidden_layers": 4,
        "layer_types": [
            "linear_attention",
            "full_attention",
            "linear_attention",
            "linear_attention",
        ],
        "intermediate_size": 32,
        "shared_intermediate_size": 48,
        "num_local_experts": 4,
        "mamba_n_heads": 8,
        "mamba_d_head": 16,
        "mamba_d_state": 16,
    },
    "minimax": SMALL
    | {
        "num_hidden_layers": 4,
        "layer_types": ["linear_attention"] * 3 + ["full_attention"],
        "head_dim": 16,
        "intermediate_size": 32,
        "num_local_experts": 4,
    },
    "kimi_linear": SMALL
    | {
        "num_hidden_layers": 4,
        "num_key_value_heads": 4,
        "intermediate_size": 96,
        # Above its pad_token_id.
        "vocab_size": 200000,
        "kv_lora_rank": 32,
        "qk_nope_head_dim": 16,
        "qk_rope_head_dim": 8,
        "v_head_dim": 16,
        "num_experts": 4,
        "num_experts_per_token": 2,
        "moe_intermediate_size": 32,
        "linear_attn_config": {
            "head_dim": 8,
            "num_heads": 4,
            "short_conv_kernel_size": 4,
            "kda_layers": [1, 2, 3],
            "full_attn_layers": [4],
        },
    },
}
# The MoE families of 2024-2025 (docs/model.md).
CASES |= {
    "ernie4_5_moe": SMALL
    | {
        "num_hidden_layers": 4,
        "intermediate_size": 96,
        "moe_num_experts": 4,
        "moe_k": 2,
        "moe_intermediate_size": 32,
        "moe_num_shared_experts": 2,
        "moe_layer_start_index": 2,
        "tie_word_embeddings": False,
    },
    "hunyuan_v1_moe": SMALL
    | {
        "num_hidden_layers": 3,
        "head_dim": 16,
        "intermediate_size": 32,
        "num_experts": 4,
        "moe_topk": 2,
        "use_qk_norm": True,
        "tie_word_embeddings": True,
    },
    "dots1": SMALL
    | {
        "num_hidden_layers": 3,
        "intermediate_size": 96,
        "moe_intermediate_size": 32,
        "n_routed_experts": 4,
        "n_shared_experts": 2,
        "num_experts_per_tok": 2,
        "first_k_dense_replace": 1,
    },
    "olmoe": SMALL
    | {"num_hidden_layers": 2, "intermediate_size": 32, "num_experts": 4, "num_experts_per_tok": 2},
    "phimoe": SMALL
    | {
        "num_hidden_layers": 2,
        "intermediate_size": 32,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "attention_bias": True,
        "lm_head_bias": True,
    },
    "granitemoe": SMALL
    | {
        "num_hidden_layers": 2,
        "intermediate_size": 32,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "tie_word_embeddings": True,
    },
    "exaone_moe": SMALL
    | {
        "num_hidden_layers": 4,
        "intermediate_size": 96,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "num_shared_experts": 2,
        "first_k_dense_replace": 1,
        "sliding_window": 8,
        "sliding_window_pattern": 4,
    },
    "solar_open": SMALL
    | {
        "num_hidden_layers": 2,
        "head_dim": 16,
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "n_shared_experts": 2,
        "attention_bias": True,
    },
}
# The dense families of 2025 (docs/model.md): norms after the sublayers, windows, q/k biases.
DENSE = SMALL | {"num_hidden_layers": 4, "intermediate_size": 96}
CASES |= {
    # pad_token_id within the toy vocabulary (their defaults index past it); rooflens reads none.
    "glm4": DENSE
    | {"head_dim": 16, "attention_bias": True, "partial_rotary_factor": 0.5, "pad_token_id": 0},
    "seed_oss": DENSE | {"head_dim": 16, "attention_bias": True, "attention_out_bias": False},
    "olmo2": DENSE,
    "olmo3": DENSE | {"sliding_window": 8},
    "granite": DENSE | {"embedding_multiplier": 12.0, "residual_multiplier": 0.22},
    "exaone4": DENSE | {"sliding_window": 8, "sliding_window_pattern": 4},
    "cohere2": DENSE | {"sliding_window": 8, "sliding_window_pattern": 4},
    "smollm3": DENSE | {"no_rope_layer_interval": 4, "pad_token_id": 0},
    "ernie4_5": DENSE | {"head_dim": 16},
    "hunyuan_v1_dense": DENSE | {"head_dim": 16, "attention_bias": True},
    # xIELU's alpha_p and alpha_n are parameters; its beta and eps are buffers (stored in the
    # checkpoint, not learned), left out here as rooflens leaves them out.
    "apertus": DENSE | {"attention_bias": True},
    "ministral3": DENSE | {"head_dim": 16, "sliding_window": 8},
}
# Where the config omits head_dim and num_key_value_heads, their classes' defaults apply
# (ERNIE 4.5: 128 and 2; Ministral 3: 128 and 8), not hidden_size over the heads.
NO_KV = {key: value for key, value in DENSE.items() if key != "num_key_value_heads"}
CASES["ernie4_5:class_defaults"] = NO_KV
CASES["ministral3:class_defaults"] = NO_KV | {"num_attention_heads": 8}
# Ling 3 (bailing_hybrid): KDA with full-rank decay and output gates, MLA with a per-head
# output gate every layer_group_size-th layer, dense then MoE layers. The second case spells
# the experts as transformers' attribute_map reads them, gives q_lora_rank and mlp_layer_types;
# the third leaves every other size to BailingHybridConfig (512 experts, 2 dense layers).
BAILING_HYBRID = SMALL | {
    "num_hidden_layers": 6,
    "layer_group_size": 3,
    "head_dim": 8,
    "intermediate_size": 96,
    "kv_lora_rank": 32,
    "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8,
    "v_head_dim": 12,
    "moe_intermediate_size": 32,
    "first_k_dense_replace": 1,
    # Below the vocabulary.
    "pad_token_id": 0,
    "eos_token_id": 1,
}
CASES |= {
    "bailing_hybrid": BAILING_HYBRID
    | {"num_experts": 4, "num_experts_per_tok": 2, "num_shared_experts": 2},
    "bailing_hybrid:spellings": BAILING_HYBRID
    | {
        "num_hidden_layers": 4,
        "layer_group_size": 2,
        "head_dim": 16,
        "q_lora_rank": 24,
        "num_local_experts": 4,
        "num_experts_per_token": 2,
        "mlp_layer_types": ["dense", "sparse", "sparse", "sparse"],
        "num_nextn_predict_layers": 0,
    },
    # 7 layers in groups of 3, the last one MLA as vLLM's BailingMoeV3 builds it.
    "bailing_hybrid:layer_types": BAILING_HYBRID
    | {
        "num_hidden_layers": 7,
        "layer_types": ["linear_attention", "linear_attention", "full_attention"] * 2
        + ["full_attention"],
        "num_experts": 4,
        "num_experts_per_tok": 2,
    },
    "bailing_hybrid:class_defaults": {
        "hidden_size": 64,
        "num_attention_heads": 4,
        "intermediate_size": 96,
        "vocab_size": 100,
        "num_hidden_layers": 12,
        "pad_token_id": 0,
        "eos_token_id": 1,
    },
}
# Nemotron 3 Super's latent MoE: experts in a 16-wide latent between fc1/fc2_latent_proj.
CASES["nemotron_h:latent_moe"] = CASES["nemotron_h:moe"] | {"moe_latent_size": 16}
# LFM2: gated short convolutions and attention; the dense MLP's width auto-adjusted (96 ->
# 2/3 -> 64, x 1.5 -> 96, rounded up to 40: 120), or as given; LFM2-MoE's first layer dense.
LFM2 = SMALL | {
    "num_hidden_layers": 4,
    "layer_types": ["conv", "full_attention", "conv", "conv"],
    "intermediate_size": 96,
    "pad_token_id": 0,
}
CASES |= {
    "lfm2": LFM2 | {"block_ffn_dim_multiplier": 1.5, "block_multiple_of": 40},
    "lfm2:not_adjusted": LFM2
    | {"block_auto_adjust_ff_dim": False, "conv_bias": True, "conv_L_cache": 4},
    "lfm2:attention_indices": LFM2
    | {"layer_types": None, "full_attn_idxs": [0, 3], "tie_word_embeddings": False},
    "lfm2_moe": LFM2
    | {
        "num_dense_layers": 1,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
    },
    "lfm2_moe:no_expert_bias": LFM2
    | {
        "num_dense_layers": 2,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "use_expert_bias": False,
        "tie_word_embeddings": False,
    },
}
# The MoE families of 2025-2026 (docs/model.md). MiMo-V2-Flash: values narrower than queries and
# keys, sliding layers with twice the KV heads and sinks (full attention in layers 0 and 5 by
# default, a dense first layer); transformers' spelling of the layout in the second case.
MIMO_V2 = SMALL | {
    "num_hidden_layers": 7,
    "head_dim": 24,
    "v_head_dim": 16,
    "intermediate_size": 96,
    "moe_intermediate_size": 32,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "sliding_window": 8,
}
CASES |= {
    "mimo_v2_flash": MIMO_V2,
    "mimo_v2_flash:layer_types": MIMO_V2
    | {
        "num_hidden_layers": 4,
        "layer_types": ["sliding_attention", "full_attention"] * 2,
        "mlp_layer_types": ["dense", "dense", "sparse", "sparse"],
        "attention_bias": True,
    },
    # Trinity: q/k norms, an output gate over every value, norms before and after each
    # sublayer, two dense layers, then MoE with two shared experts' width and an expert bias.
    "afmoe": SMALL
    | {
        "num_hidden_layers": 5,
        "head_dim": 16,
        "intermediate_size": 96,
        "moe_intermediate_size": 24,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "num_shared_experts": 2,
        "num_dense_layers": 2,
        "sliding_window": 8,
    },
}

# The attention-free state-space models: Mamba's and Falcon Mamba's inner width from expand or,
# where the config gives one, intermediate_size (Falcon Mamba 7B's beside expand 16); the
# biases and embeddings as configured.
SSM = {"hidden_size": 64, "num_hidden_layers": 3, "vocab_size": 100, "state_size": 8}
MAMBA2 = SSM | {"num_heads": 8, "head_dim": 16, "n_groups": 2, "state_size": 16}
CASES |= {
    "mamba": SSM,
    "mamba:biased_untied": SSM
    | {
        "expand": 3,
        "time_step_rank": 6,
        "use_bias": True,
        "use_conv_bias": False,
        "tie_word_embeddings": False,
    },
    "mamba:intermediate_size": SSM | {"intermediate_size": 96},
    "falcon_mamba": SSM,
    "falcon_mamba:intermediate_size": SSM
    | {"expand": 16, "intermediate_size": 128, "tie_word_embeddings": False},
    "mamba2": MAMBA2,
    "mamba2:biased_tied": MAMBA2
    | {"use_bias": True, "use_conv_bias": False, "tie_word_embeddings": True, "conv_kernel": 3},
}
# Bamba: Mamba2 with attention in attn_layer_indices (absent: none; all: a transformer).
BAMBA = SMALL | {
    "num_hidden_layers": 4,
    "intermediate_size": 96,
    "mamba_n_heads": 8,
    "mamba_d_state": 16,
    "mamba_n_groups": 2,
}
# Granite SWA and GraniteMoeSWA: window layers (all but every fourth by default) and a sink
# logit per head; GraniteMoeShared: Granite MoE with a shared expert.
GRANITE_MOE = DENSE | {"num_hidden_layers": 5, "num_local_experts": 4, "num_experts_per_tok": 2}
CASES |= {
    "granite_swa": DENSE | {"num_hidden_layers": 5},
    "granite_swa:full_biased_untied": DENSE
    | {
        "num_hidden_layers": 5,
        "layer_types": ["full_attention"] * 5,
        "attention_bias": True,
        "mlp_bias": True,
        "tie_word_embeddings": False,
    },
    "granitemoeshared": GRANITE_MOE | {"shared_intermediate_size": 48},
    "granitemoeshared:no_shared_tied": GRANITE_MOE | {"tie_word_embeddings": True},
    "granitemoe_swa": GRANITE_MOE | {"shared_intermediate_size": 48, "sliding_window": 8},
}
# OLMo Hybrid: Gated DeltaNet with its config class's derived shapes, or given ones.
OLMO_HYBRID = DENSE | {"pad_token_id": 0}
CASES |= {
    "olmo_hybrid": OLMO_HYBRID,
    "olmo_hybrid:shapes": OLMO_HYBRID
    | {
        "num_hidden_layers": 3,
        "tie_word_embeddings": True,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 8,
        "linear_value_head_dim": 12,
        "linear_conv_kernel_dim": 3,
    },
    "olmo_hybrid:layer_types": OLMO_HYBRID
    | {"layer_types": ["full_attention", "linear_attention", "linear_attention", "full_attention"]},
}
CASES |= {
    "bamba": BAMBA | {"attn_layer_indices": [1, 3]},
    "bamba:no_attention": BAMBA,
    "bamba:all_attention": BAMBA
    | {"attn_layer_indices": [0, 1, 2, 3], "tie_word_embeddings": True},
    "bamba:biased_mamba": BAMBA
    | {
        "attn_layer_indices": [2],
        "mamba_proj_bias": True,
        "mamba_conv_bias": False,
        "mamba_d_conv": 3,
        "mamba_expand": 3,
        "mamba_n_heads": 12,
    },
}
# Dense decoders of 2023-2025 (docs/model.md, "Dense decoders of 2023-2025"): parallel blocks,
# LayerNorms with and without bias, non-gated MLPs, class defaults for omitted keys.
TINY = {"hidden_size": 64, "num_attention_heads": 4, "vocab_size": 100, "num_hidden_layers": 3}
TINY_GQA = TINY | {"num_key_value_heads": 2, "intermediate_size": 96, "pad_token_id": 0}
CASES |= {
    "phi": TINY | {"intermediate_size": 96},
    "phi:tied": TINY | {"intermediate_size": 96, "tie_word_embeddings": True},
    "starcoder2": TINY_GQA | {"sliding_window": 8},
    "starcoder2:no_bias": TINY | {"intermediate_size": 96, "use_bias": False},
    "cohere": TINY_GQA,
    "cohere:qk_norm": TINY_GQA | {"use_qk_norm": True, "attention_bias": True},
    "internlm3": TINY_GQA | {"head_dim": 16},
    # InternLM3's qkv_bias and bias (its spelling of attention_bias and mlp_bias); head_dim 128.
    "internlm3:class_defaults": TINY | {"intermediate_size": 96, "qkv_bias": True, "bias": True},
    "exaone": TINY_GQA | {"tie_word_embeddings": True},
    # EXAONE's own spelling of the depth; 8 KV heads where omitted.
    "exaone:class_defaults": {key: v for key, v in TINY.items() if key != "num_hidden_layers"}
    | {"num_layers": 3, "num_attention_heads": 8, "intermediate_size": 96},
    "glm": TINY_GQA | {"head_dim": 16},
    "glm:class_defaults": TINY | {"intermediate_size": 96, "pad_token_id": 0},
    "helium": TINY_GQA | {"head_dim": 16, "attention_bias": True, "mlp_bias": True},
    "iquestcoder": TINY_GQA | {"head_dim": 16},
    "iquestcoder:class_defaults": TINY | {"intermediate_size": 96, "num_attention_heads": 8},
    "ministral": TINY_GQA | {"head_dim": 16, "sliding_window": 8},
    "ministral:no_window": TINY
    | {"intermediate_size": 96, "num_attention_heads": 8, "head_dim": 32, "sliding_window": None},
    "cwm": TINY_GQA | {"num_hidden_layers": 5, "head_dim": 16, "mlp_bias": True},
    "arcee": TINY_GQA | {"attention_bias": True, "mlp_bias": True},
    "nemotron": TINY_GQA,
    "nemotron:biases": TINY_GQA
    | {"head_dim": 8, "attention_bias": True, "mlp_bias": True, "tie_word_embeddings": True},
    "jais2": TINY_GQA,
    "stablelm": TINY_GQA | {"use_qkv_bias": True},
    # 32 KV heads where omitted (StableLmConfig), tied.
    "stablelm:class_defaults": TINY
    | {"num_attention_heads": 32, "intermediate_size": 96, "tie_word_embeddings": True},
    # Norms without gain or bias: OLMo 1's LayerNorms, nanochat's RMSNorms (q/k norms too).
    "olmo": TINY_GQA | {"attention_bias": True, "clip_qkv": 8.0},
    "olmo:tied": TINY | {"intermediate_size": 96, "tie_word_embeddings": True, "pad_token_id": 0},
    "nanochat": TINY_GQA,
    "nanochat:biases": TINY | {"intermediate_size": 96, "attention_bias": True},
    "vaultgemma": TINY_GQA | {"head_dim": 16, "sliding_window": 8, "attention_bias": True},
    # head_dim 256 and 4 KV heads where omitted (VaultGemmaConfig), untied here.
    "vaultgemma:class_defaults": TINY
    | {"intermediate_size": 96, "pad_token_id": 0, "tie_word_embeddings": False},
    # GPT-2's key names; multi-query attention by default (one K and one V head).
    "gpt_bigcode": {"n_embd": 64, "n_head": 4, "n_layer": 3, "n_positions": 32, "vocab_size": 100},
    "gpt_bigcode:multi_head": {"n_embd": 64, "n_head": 4, "n_layer": 3, "vocab_size": 100}
    | {"n_inner": 96, "multi_query": False, "tie_word_embeddings": False},
    # transformers 5.25's DbrxAttention reads attn_config.rope_theta, which its config class
    # does not default.
    "dbrx": {"d_model": 64, "n_heads": 4, "n_layers": 3, "max_seq_len": 32, "vocab_size": 100}
    | {
        "attn_config": {"kv_n_heads": 2, "clip_qkv": 8, "rope_theta": 10000.0},
        "ffn_config": {"ffn_hidden_size": 32, "moe_num_experts": 4, "moe_top_k": 2},
    },
    # Multi-head latent attention in a dense block, with and without the query bottleneck.
    "youtu": TINY
    | {
        "intermediate_size": 96,
        "q_lora_rank": 24,
        "kv_lora_rank": 16,
        "qk_rope_head_dim": 8,
        "qk_nope_head_dim": 16,
        "v_head_dim": 16,
        "pad_token_id": 0,
    },
}
CASES["youtu:no_query_rank"] = CASES["youtu"] | {
    "q_lora_rank": None,
    "attention_bias": True,
    "tie_word_embeddings": False,
}
# MiniCPM3: the same latent attention, tied by default; its class's MLA widths where omitted.
CASES |= {
    "minicpm3": CASES["youtu"] | {"v_head_dim": None},
    "minicpm3:no_query_rank": CASES["youtu"]
    | {"v_head_dim": None, "q_lora_rank": None, "tie_word_embeddings": False},
    "minicpm3:class_defaults": TINY | {"intermediate_size": 96},
}
# ALiBi families: BLOOM (an embedding LayerNorm, biases everywhere; its older n_embed
# spelling) and MPT (no bias at all, MosaicML's key names, accepted attn_config options).
CASES |= {
    "bloom": {"hidden_size": 64, "n_head": 4, "n_layer": 3, "vocab_size": 100},
    "bloom:untied": {"n_embed": 64, "num_attention_heads": 4, "n_layer": 3, "vocab_size": 100}
    | {"tie_word_embeddings": False, "apply_residual_connection_post_layernorm": True},
    "mpt": {"d_model": 64, "n_heads": 4, "n_layers": 3, "vocab_size": 100, "max_seq_len": 32},
    "mpt:untied": {"d_model": 64, "n_heads": 4, "n_layers": 3, "vocab_size": 100}
    | {"tie_word_embeddings": False, "attn_config": {"clip_qkv": 6.0, "alibi_bias_max": 16}},
}
# DeepSeek-V3's MoE layout in the families of 2026: MLA (Mistral Small 4, GLM-4.7-Flash,
# Sarvam-105B) or GQA with q/k norms (Hy3, Sarvam-30B, Param-2); each family's class defaults
# in a second case (their own head widths, KV heads, MLA ranks, tied embeddings).
MLA = {
    "kv_lora_rank": 32,
    "q_lora_rank": 24,
    "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8,
    "v_head_dim": 12,
}
V3_MOE = {"moe_intermediate_size": 32, "num_experts_per_tok": 2, "intermediate_size": 96}
NO_KV_8 = NO_KV | {"num_attention_heads": 8, "num_hidden_layers": 2}
CASES |= {
    "mistral4": SMALL
    | MLA
    | V3_MOE
    | {
        "num_hidden_layers": 3,
        "n_routed_experts": 4,
        "n_shared_experts": 2,
        "first_k_dense_replace": 1,
    },
    "mistral4:no_q_lora": SMALL
    | MLA
    | V3_MOE
    | {"num_hidden_layers": 2, "n_routed_experts": 4, "q_lora_rank": None},
    "mistral4:class_defaults": NO_KV | {"num_hidden_layers": 2},
    "hy_v3": SMALL
    | V3_MOE
    | {"num_hidden_layers": 3, "head_dim": 16, "num_experts": 4, "attention_bias": True},
    "hy_v3:mlp_layer_types": SMALL
    | V3_MOE
    | {
        "num_hidden_layers": 4,
        "head_dim": 16,
        "num_experts": 4,
        "num_shared_experts": 2,
        "mlp_layer_types": ["dense", "dense", "sparse", "sparse"],
        "tie_word_embeddings": True,
    },
    "hy_v3:class_defaults": NO_KV_8,
    "glm4_moe_lite": SMALL | MLA | V3_MOE | {"num_hidden_layers": 3, "n_routed_experts": 4},
    # Glm4MoeLiteConfig reads head_dim as qk_rope_head_dim.
    "glm4_moe_lite:class_defaults": NO_KV | {"num_hidden_layers": 2, "head_dim": 32},
    "sarvam_moe": SMALL
    | V3_MOE
    | {"num_hidden_layers": 3, "head_dim": 16, "num_experts": 4, "use_qkv_bias": True},
    "sarvam_moe:class_defaults": NO_KV | {"num_hidden_layers": 2},
    "sarvam_mla": SMALL
    | MLA
    | V3_MOE
    | {"num_hidden_layers": 3, "num_experts": 4, "q_lora_rank": None, "num_shared_experts": 2},
    "sarvam_mla:class_defaults": NO_KV | {"num_hidden_layers": 2},
    "param2moe": SMALL | V3_MOE | {"num_hidden_layers": 3, "num_experts": 4},
    "param2moe:class_defaults": NO_KV_8,
    # MiniCPM 5 MoE: an output gate over every value (biased with q/k/v/o).
    "minicpm5_moe": SMALL
    | V3_MOE
    | {
        "num_hidden_layers": 3,
        "head_dim": 16,
        "n_routed_experts": 4,
        "attention_bias": True,
        "first_k_dense_replace": 2,
    },
    "minicpm5_moe:mlp_layer_types": SMALL
    | V3_MOE
    | {
        "num_hidden_layers": 3,
        "n_routed_experts": 4,
        "n_shared_experts": 2,
        "mlp_layer_types": ["dense", "sparse", "sparse"],
    },
    "minicpm5_moe:class_defaults": NO_KV | {"num_hidden_layers": 2},
    # Command A MoE: a parallel block, experts of intermediate_size, a dense first layer of
    # prefix_dense_intermediate_size; LayerNorm without bias, or RMSNorm with rms_norm_eps.
    "cohere2_moe": SMALL
    | {
        "num_hidden_layers": 5,
        "head_dim": 16,
        "intermediate_size": 32,
        "num_experts": 4,
        "num_shared_experts": 1,
        "first_k_dense_replace": 1,
        "prefix_dense_intermediate_size": 96,
        "sliding_window": 8,
        "attention_bias": True,
        "eos_token_id": 1,
    },
    "cohere2_moe:rms_norm": SMALL
    | {
        "num_hidden_layers": 3,
        "intermediate_size": 32,
        "num_experts": 4,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "eos_token_id": 1,
    },
    "cohere2_moe:class_defaults": NO_KV
    | {
        "num_hidden_layers": 2,
        "intermediate_size": 32,
        "num_experts_per_tok": 2,
        "eos_token_id": 1,
    },
}
# Model types AutoModelForCausalLM does not map (transformers maps mistral4 to image-text).
CAUSAL_LM = {"mistral4": "Mistral4ForCausalLM"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reader_counts_the_parameters_transformers_builds(case: str) -> None:
    # A case is named by its model_type, with a suffix where one type has several cases.
    model_type = case.split(":")[0]
    config = transformers.AutoConfig.for_model(model_type, **CASES[case])
    with torch.device("meta"):
        if model_type in CAUSAL_LM:
            model = getattr(transformers, CAUSAL_LM[model_type])(config)
        else:
            model = transformers.AutoModelForCausalLM.from_config(config)
    theirs = sum(p.numel() for p in model.parameters())
    # The routers' score-correction biases are buffers there, stored in the checkpoint all
    # the same (as DeepSeek-V3's): rooflens counts them as parameters.
    theirs += sum(
        b.numel()
        for name, b in model.named_buffers()
        # LFM2-MoE's expert_bias likewise.
        if name.endswith(("e_score_correction_bias", "expert_bias"))
    )
    raw = CASES[case] | {"model_type": model_type}
    ours = build_graph(spec_from_config(raw), AnalysisOptions())
    assert ours.params() == theirs


# GLM-4.xV: GLM-4 (dense) or GLM-4.5-Air (MoE, with an MTP layer transformers does not build)
# language models under one vision tower, built whole (AutoModelForImageTextToText).
GLM4V_TOWER = {
    "depth": 2,
    "hidden_size": 16,
    "num_heads": 2,
    "out_hidden_size": 64,
    "intermediate_size": 48,
    "patch_size": 4,
    "image_size": 32,
}
VL_CASES: dict[str, dict[str, Any]] = {
    "glm4v": {"text_config": DENSE | {"pad_token_id": 0}, "vision_config": GLM4V_TOWER},
    "glm4v_moe": {
        "text_config": DENSE
        | {
            "head_dim": 16,
            "moe_intermediate_size": 32,
            "n_routed_experts": 4,
            "num_experts_per_tok": 2,
            "first_k_dense_replace": 1,
            "num_nextn_predict_layers": 1,
            "pad_token_id": 0,
        },
        "vision_config": GLM4V_TOWER,
    },
}


# Qwen2-VL / Qwen2.5-VL: Qwen2 language models (q/k/v biases) under their towers; Qwen2.5-VL's
# blocks attend within windows of 8 x 8 patches but block 1; a flat config (the text keys at
# the top level, as the published ones) is read as transformers reads it.
QWEN2_VL_TOWER = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2}
QWEN2_5_VL_TOWER = {
    "depth": 3,
    "hidden_size": 32,
    "out_hidden_size": 64,
    "num_heads": 2,
    "intermediate_size": 48,
    "patch_size": 4,
    "window_size": 32,
    "fullatt_block_indexes": [1],
}
VL_CASES |= {
    "qwen2_vl": {"text_config": DENSE, "vision_config": QWEN2_VL_TOWER | {"patch_size": 4}},
    "qwen2_vl:flat_tied": DENSE | {"vision_config": QWEN2_VL_TOWER, "tie_word_embeddings": True},
    "qwen2_5_vl": {"text_config": DENSE, "vision_config": QWEN2_5_VL_TOWER},
    "qwen2_5_vl:flat": DENSE | {"vision_config": QWEN2_5_VL_TOWER},
}
# EXAONE 4.5: EXAONE 4.0 under Qwen2.5-VL's tower, read where that tower has a K/V head per
# query head (test_readers_minicpm3_alibi.py: the fewer K/V heads of the published one).
EXAONE4_5_TOWER = QWEN2_5_VL_TOWER | {"num_key_value_heads": 2}
# Grouped-query: 4 query heads of 8 over 2 K/V heads.
EXAONE4_5_GQA_TOWER = QWEN2_5_VL_TOWER | {"num_heads": 4, "num_key_value_heads": 2}
VL_CASES |= {
    "exaone4_5": {
        "text_config": DENSE | {"model_type": "exaone4", "head_dim": 16},
        "vision_config": EXAONE4_5_TOWER,
    },
    "exaone4_5:grouped": {
        "text_config": DENSE | {"model_type": "exaone4", "head_dim": 16},
        "vision_config": EXAONE4_5_GQA_TOWER,
    },
    "exaone4_5:tied": {
        "text_config": DENSE | {"model_type": "exaone4_5_text", "tie_word_embeddings": True},
        "vision_config": EXAONE4_5_TOWER,
        "tie_word_embeddings": True,
    },
}
# LLaVA, LLaVA-NeXT, LLaVA-OneVision: CLIP or SigLIP towers of 2 blocks, 32 wide, on 32-pixel
# crops of 8-pixel patches; any language model; NeXT's and OneVision's tiles.
CLIP_TOWER = {
    "model_type": "clip_vision_model",
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 8,
}
SIGLIP_TOWER = CLIP_TOWER | {"model_type": "siglip_vision_model", "vision_use_head": False}
PINPOINTS = [[32, 64], [64, 64]]
VL_CASES |= {
    "llava": {"text_config": DENSE, "vision_config": CLIP_TOWER},
    "llava:siglip_qwen2_tied": {
        "text_config": DENSE | {"model_type": "qwen2", "tie_word_embeddings": True},
        "vision_config": SIGLIP_TOWER,
        "vision_feature_layer": [-1, -2],
        "vision_feature_select_strategy": "full",
        "multimodal_projector_bias": False,
    },
    "llava_next": {
        "text_config": DENSE,
        "vision_config": CLIP_TOWER,
        "image_grid_pinpoints": PINPOINTS,
    },
    "llava_onevision": {
        "text_config": DENSE,
        "vision_config": SIGLIP_TOWER,
        "image_grid_pinpoints": PINPOINTS,
    },
}
# Gemma 3: a SigLIP tower without its pooling head, 4 x 4 patches pooled to 2 x 2 tokens.
VL_CASES["gemma3"] = {
    "text_config": DENSE | {"head_dim": 16, "sliding_window": 8, "pad_token_id": 0},
    "vision_config": SIGLIP_TOWER,
    "mm_tokens_per_image": 4,
}
# Idefics3 and SmolVLM: a SigLIP-shaped tower of 4 x 4 patches a crop, shuffled 2 x 2 (or 4 x 4)
# into one linear; a Llama or Qwen2 language model, tied where both ties agree.
IDEFICS3_TOWER = {key: value for key, value in CLIP_TOWER.items() if key != "model_type"}
VL_CASES |= {
    "idefics3": {"text_config": DENSE | {"pad_token_id": 0}, "vision_config": IDEFICS3_TOWER},
    "smolvlm": {
        "text_config": DENSE | {"pad_token_id": 0, "tie_word_embeddings": True},
        "vision_config": IDEFICS3_TOWER,
        "scale_factor": 4,
        "tie_word_embeddings": True,
    },
    "smolvlm:qwen2": {
        "text_config": DENSE | {"model_type": "qwen2", "pad_token_id": 0},
        "vision_config": IDEFICS3_TOWER,
    },
}
# InternVL: InternViT towers (biased q/k/v, LayerNorm or RMSNorm blocks, a class token) of 4 x 4
# or 8 x 8 patches a tile, shuffled 2 x 2 or 4 x 4 into the LayerNorm-and-two-linears projector.
INTERNVL_TOWER = IDEFICS3_TOWER | {
    "image_size": [32, 32],
    "patch_size": [8, 8],
    "attention_bias": True,
}
VL_CASES |= {
    "internvl": {
        "text_config": DENSE | {"pad_token_id": 0},
        "vision_config": INTERNVL_TOWER,
        "tie_word_embeddings": False,
    },
    "internvl:final_norm_no_positions": {
        "text_config": DENSE | {"pad_token_id": 0},
        "vision_config": INTERNVL_TOWER
        | {"use_mean_pooling": False, "use_absolute_position_embeddings": False},
        "tie_word_embeddings": False,
        "vision_feature_layer": -2,
    },
    "internvl:qwen3_tied_rms": {
        "text_config": DENSE
        | {"model_type": "qwen3", "head_dim": 16, "pad_token_id": 0, "tie_word_embeddings": True},
        "vision_config": INTERNVL_TOWER | {"norm_type": "rms_norm", "image_size": 64},
        "downsample_ratio": 0.25,
    },
}
# LFM2-VL: a SigLIP2 NaFlex tower (8 x 8 learned positions, no pooling head) under the LFM2
# language model, tied or not; the projector with or without its LayerNorm and biases.
SIGLIP2_TOWER = IDEFICS3_TOWER | {
    "model_type": "siglip2_vision_model",
    "patch_size": 16,
    "num_patches": 64,
    "vision_use_head": False,
}
VL_CASES |= {
    "lfm2_vl": {"text_config": LFM2, "vision_config": SIGLIP2_TOWER, "projector_hidden_size": 48},
    "lfm2_vl:untied_plain_projector": {
        "text_config": LFM2 | {"tie_word_embeddings": False},
        "vision_config": SIGLIP2_TOWER,
        "projector_hidden_size": 48,
        "projector_bias": False,
        "projector_use_layernorm": False,
        "tie_word_embeddings": False,
    },
}
# Aya Vision: a SigLIP tower under Cohere2 (window layers), the SwiGLU projector at the text
# width or its own alignment_intermediate_size.
COHERE2 = DENSE | {"sliding_window": 8, "sliding_window_pattern": 4, "pad_token_id": 0}
VL_CASES |= {
    "aya_vision": {"text_config": COHERE2, "vision_config": SIGLIP_TOWER},
    "aya_vision:untied_alignment": {
        "text_config": COHERE2 | {"tie_word_embeddings": False},
        "vision_config": SIGLIP_TOWER,
        "alignment_intermediate_size": 40,
        "tie_word_embeddings": False,
        "vision_feature_layer": -2,
    },
}
# Qwen3.5: Qwen3-VL's ViT without its DeepStack mergers (transformers' Qwen3_5VisionModel
# deletes them even where the config lists their layers) under the Gated DeltaNet hybrids.
QWEN3_5_TOWER = {
    "depth": 2,
    "hidden_size": 32,
    "num_heads": 2,
    "intermediate_size": 48,
    "patch_size": 4,
    "out_hidden_size": SMALL["hidden_size"],
    "num_position_embeddings": 16,
    "deepstack_visual_indexes": [0],
}
VL_CASES |= {
    "qwen3_5": {"text_config": CASES["qwen3_5_text"], "vision_config": QWEN3_5_TOWER},
    "qwen3_5_moe": {"text_config": CASES["qwen3_5_moe_text"], "vision_config": QWEN3_5_TOWER},
}
# The modules of the tower and projector (the rest is the language model's).
# Kimi K2.5 as transformers 5 writes its config (Kimi_K25VisionConfig: the tower's sizes under
# their plain names, pos_emb_height/width): MoonViT of 2 blocks, 16 wide, on DeepSeek-V3's MLA.
VL_CASES["kimi_k25:transformers_keys"] = {
    "text_config": SMALL
    | MLA
    | V3_MOE
    | {
        "model_type": "deepseek_v3",
        "num_hidden_layers": 2,
        "n_routed_experts": 4,
        "n_shared_experts": 1,
        "first_k_dense_replace": 1,
        "num_nextn_predict_layers": 0,
        "topk_method": "noaux_tc",
    },
    "vision_config": {
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 24,
        "patch_size": 4,
        "pos_emb_height": 8,
        "pos_emb_width": 8,
    },
    "projection_hidden_size": 16,
    "tie_word_embeddings": False,
}
VL_TOWER_MODULES = dict.fromkeys(
    ("llava", "llava_next", "llava_onevision", "gemma3", "internvl", "lfm2_vl", "aya_vision"),
    ("vision_tower", "multi_modal_projector"),
) | dict.fromkeys(("idefics3", "smolvlm"), ("vision_model", "connector"))
VL_TOWER_MODULES["kimi_k25"] = ("vision_tower", "mm_projector")
# Parameters of the tower the readers leave out, as their modules say (0 where none).
VL_LEFT_OUT = {
    # readers/glm4v.py: post_conv_layernorm (hidden_size) and the downsample's bias
    # (out_hidden_size).
    "glm4v": 16 + 64,
    "glm4v_moe": 16 + 64,
    # readers/internvl.py: the blocks' lambda_1 and lambda_2 (2 x hidden_size a block).
    "internvl": 2 * 32 * 2,
}
# Parameters neither of the tower nor of the language model, left out: LLaVA-NeXT's and
# OneVision's image_newline (the text hidden_size).
VL_NEITHER = {"llava_next": 64, "llava_onevision": 64}


@pytest.mark.parametrize("case", sorted(VL_CASES))
def test_vision_language_readers_count_what_transformers_builds(case: str) -> None:
    model_type = case.split(":")[0]
    config = transformers.AutoConfig.for_model(model_type, **VL_CASES[case])
    with torch.device("meta"):
        model = transformers.AutoModelForImageTextToText.from_config(config)
    modules = VL_TOWER_MODULES.get(model_type, ("visual",))
    tower = sum(p.numel() for m in modules for p in getattr(model.model, m).parameters())
    language = sum(p.numel() for p in model.parameters()) - tower - VL_NEITHER.get(model_type, 0)
    language += sum(
        b.numel() for name, b in model.named_buffers() if name.endswith("e_score_correction_bias")
    )
    spec = spec_from_config(VL_CASES[case] | {"model_type": model_type})
    assert build_graph(spec, AnalysisOptions()).params() == language
    assert vision_params(spec) == tower - VL_LEFT_OUT.get(model_type, 0)
