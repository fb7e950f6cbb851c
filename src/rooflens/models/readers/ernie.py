"""ERNIE 4.5 (Baidu, 2025): the dense models (transformers' Ernie4_5Config), Llama's block with
`use_bias` on every projection, and the MoE models (Ernie4_5_MoeConfig): Llama-style GQA
attention, dense MLPs in the layers before `moe_layer_start_index` and an MoE of
`moe_num_experts` experts (top-`moe_k`) with `moe_num_shared_experts` shared experts after
them."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import refuse

# Ernie4_5Config's head width and KV heads where a config omits the key (written as null,
# Ernie4_5Config.__post_init__ makes them hidden_size / heads and every head).
_DENSE_HEAD_DIM = 128
_DENSE_KV_HEADS = 2
# Ernie4_5_MoeConfig's KV heads where a config omits the key.
_MOE_KV_HEADS = 4


def read_ernie4_5(c: _Config, name: str) -> ModelSpec:
    """ERNIE-4.5-0.3B: Llama's block (Ernie4_5Attention, Ernie4_5MLP), without biases:
    transformers would bias every projection where `use_bias`, which vLLM never reads, so a
    true one is refused; embeddings tied by default."""
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    head_dim = _DENSE_HEAD_DIM if "head_dim" not in c.raw else c.head_dim(hidden, heads)
    absent = "num_key_value_heads" not in c.raw
    # transformers biases every projection where use_bias; vLLM's Ernie4_5ForCausalLM (its
    # LlamaForCausalLM) never reads the key and builds none.
    if c.get("use_bias", False):
        refuse(c, "use_bias", True, "false (vLLM's Ernie4_5ForCausalLM builds no bias)")
    bias = False
    return _llama_like(
        c,
        name,
        # Ernie4_5Config declares use_bias alone; vLLM's Ernie4_5ForCausalLM is its
        # LlamaForCausalLM, which reads both biases and windows every layer by sliding_window.
        refused=("attention_bias", "mlp_bias", "sliding_window"),
        head_dim=head_dim,
        num_kv_heads=_DENSE_KV_HEADS if absent else c.get("num_key_value_heads", heads),
        tied_embeddings=c.get("tie_word_embeddings", True),
        max_positions=c.get("max_position_embeddings", 131072),
        qkv_bias=bias,
        out_bias=bias,
        mlp_bias=bias,
    )


def _dense_layers(c: _Config, layers: int) -> int:
    """The dense layers before the first MoE layer. transformers' Ernie4_5_MoeDecoderLayer
    routes layer i when (i + 1) % moe_layer_interval == 0 and start <= i <= end (end -1:
    the last layer); rooflens places dense layers first, so only an interval of 1 up to the
    last layer is read."""
    interval = c.get("moe_layer_interval", 1)
    if interval != 1:
        refuse(c, "moe_layer_interval", interval, "1 (every layer from the first MoE layer on)")
    end = c.get("moe_layer_end_index", -1)
    if end != -1 and end < layers - 1:
        refuse(c, "moe_layer_end_index", end, f"-1 or {layers - 1} (MoE up to the last layer)")
    start = c.get("moe_layer_start_index", 1)
    if not 0 <= start < layers:
        refuse(c, "moe_layer_start_index", start, f"a layer index from 0 to {layers - 1}")
    return start


def read_ernie4_5_moe(c: _Config, name: str) -> ModelSpec:
    """ERNIE-4.5-300B-A47B and -21B-A3B. The shared experts are one MLP
    of `moe_num_shared_experts` x `moe_intermediate_size` (Ernie4_5_MoeSparseMoeBlock); each
    MoE layer's router keeps a score-correction bias of one value per expert
    (Ernie4_5_MoeStatics). The multi-token-prediction module (`num_nextn_predict_layers`) is
    not read: transformers loads it apart (MtpModel) and rooflens counts the model that
    generates."""
    layers = c.positive("num_hidden_layers")
    if c.get("use_bias", False):
        # Attention, dense and shared MLPs and the head would carry biases, the routed experts
        # none (Ernie4_5_MoeExperts): rooflens gives every MLP the same bias, or none.
        refuse(c, "use_bias", True, "false (the routed experts have no bias)")
    expert = c.req("moe_intermediate_size")
    shared = c.count("moe_num_shared_experts", 2)
    return _llama_like(
        c,
        name,
        # Ernie4_5_MoeConfig has none of the three: vLLM's ernie45_moe.py reads no bias key
        # (use_bias, refused above) and windows every layer by a sliding_window.
        ignored=("attention_bias", "mlp_bias"),
        refused=("sliding_window",),
        num_kv_heads=c.get("num_key_value_heads", _MOE_KV_HEADS),
        tied_embeddings=c.get("tie_word_embeddings", True),
        max_positions=c.get("max_position_embeddings", 131072),
        # Named here: ModelSpec's refusal lists other families' spellings of both.
        num_experts=c.positive("moe_num_experts", maximum=MAX_COUNT),
        experts_per_token=c.positive("moe_k", maximum=MAX_COUNT),
        expert_intermediate_size=expert,
        shared_intermediate_size=expert * shared or None,
        router_bias=True,
        dense_layers=_dense_layers(c, layers),
    )
