"""The architectures of 2025-2026, each mechanism on a toy config whose costs are computed by
hand here: attention sinks, alternating windows, chunked attention, interleaved MoE with a
shared expert, DSA's indexer and top-k, checkpoint quantization with excluded modules, and a
multimodal wrapper's vision stage."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.efficiency import ClassEfficiency, EfficiencyCurve, EfficiencyProfile
from rooflens.core.errors import InvalidInputError, ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes, weight_bytes
from rooflens.core.mtp import mtp_params
from rooflens.core.operators import (
    AttentionScores,
    AttentionSinks,
    FlashAttention,
    IndexerScores,
    LatentAttention,
    Step,
)
from rooflens.core.vision import price_images, vision_params
from rooflens.models import load_model, spec_from_config
from rooflens.models.quant import (
    default_quantization,
    read_quantization_config,
    unquantized_modules,
)
from rooflens.serving import Requests

GPT_OSS = {
    "model_type": "gpt_oss",
    "num_hidden_layers": 2,
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 4,
    "intermediate_size": 6,
    "vocab_size": 16,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "sliding_window": 3,
    "layer_types": ["sliding_attention", "full_attention"],
    "max_position_embeddings": 64,
    "quantization_config": {
        "quant_method": "mxfp4",
        "modules_to_not_convert": [
            "model.layers.*.self_attn",
            "model.layers.*.mlp.router",
            "model.embed_tokens",
            "lm_head",
        ],
    },
}

LLAMA4 = {
    "model_type": "llama4_text",
    "num_hidden_layers": 4,
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 4,
    "intermediate_size": 6,
    "intermediate_size_mlp": 10,
    "vocab_size": 16,
    "num_local_experts": 4,
    "num_experts_per_tok": 1,
    "interleave_moe_layer_step": 2,
    "attention_chunk_size": 4,
    "max_position_embeddings": 64,
}

DSA = {
    "model_type": "deepseek_v32",
    "num_hidden_layers": 1,
    "hidden_size": 8,
    "num_attention_heads": 2,
    "q_lora_rank": 4,
    "kv_lora_rank": 4,
    "qk_nope_head_dim": 2,
    "qk_rope_head_dim": 2,
    "v_head_dim": 2,
    "intermediate_size": 6,
    "moe_intermediate_size": 2,
    "n_routed_experts": 2,
    "num_experts_per_tok": 1,
    "n_shared_experts": 1,
    "first_k_dense_replace": 1,
    "vocab_size": 16,
    "index_n_heads": 2,
    "index_head_dim": 4,
    "index_topk": 3,
    "max_position_embeddings": 64,
}

GEMMA3 = {
    "model_type": "gemma3",
    "mm_tokens_per_image": 1,
    "text_config": {
        "model_type": "gemma3_text",
        "num_hidden_layers": 2,
        "hidden_size": 8,
        "intermediate_size": 6,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 4,
        "vocab_size": 16,
        "sliding_window": 3,
        "sliding_window_pattern": 2,
        "max_position_embeddings": 64,
    },
    "vision_config": {
        "hidden_size": 4,
        "intermediate_size": 6,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "patch_size": 2,
        "image_size": 4,
        "vision_use_head": False,
    },
}


def _op(graph, cls, **match):
    ops = [op for op in graph.operators if isinstance(op, cls)]
    return [op for op in ops if all(getattr(op, k) == v for k, v in match.items())]


# --- gpt-oss: sinks, alternating windows, biased MoE ---------------------------------------


def test_gpt_oss_parameters_by_hand() -> None:
    spec = spec_from_config(GPT_OSS)
    assert (spec.window_layers, spec.attention_sinks, spec.activation) == (1, True, "swiglu_oai")
    # Per layer: 2 norms 16; q 8x8+8, k 8x4+4, v 8x4+4, o 8x8+8; sinks 2; router 8x4+4;
    # 4 experts of gate 8x6+6, up 8x6+6, down 6x8+8.
    layer = 16 + 72 + 36 + 36 + 72 + 2 + 36 + 4 * (54 + 54 + 56)
    assert layer == 926
    assert build_graph(spec, AnalysisOptions()).params() == 2 * layer + 128 + 128 + 8


def test_attention_sinks_cost_four_ops_per_query_and_head() -> None:
    sinks = AttentionSinks("attention_sinks", "block", ("q",), "s", num_heads=2)
    cost = sinks.cost(
        Step(batch=np.array(2.0), new_tokens=np.array(5.0), past=np.array(0.0)), _prec()
    )
    assert float(cost.ops) == 4 * 2 * 5 * 2
    assert float(cost.load_weight) == 2 * 2  # two bf16 logits
    assert sinks.params() == 2


def _prec(**q):
    from rooflens.core.operators import Precision

    return Precision(Quantization(**q))


def test_alternating_windows_cap_attention_and_kv_cache() -> None:
    spec = spec_from_config(GPT_OSS)
    graph = build_graph(spec, AnalysisOptions())
    decode = Step(batch=np.array(1.0), new_tokens=np.array(1.0), past=np.array(10.0))
    full, windowed = _op(graph, AttentionScores, span=None), _op(graph, AttentionScores, span=3)
    assert (full[0].layers, windowed[0].layers) == (1, 1)
    # 2 b H q k d: the full layer sees 11 keys, the sliding one its window of 3.
    assert float(full[0].cost(decode, _prec()).ops) == 2 * 1 * 2 * 1 * 11 * 4
    assert float(windowed[0].cost(decode, _prec()).ops) == 2 * 1 * 2 * 1 * 3 * 4
    # KV: 2 x 4 values x 2 bytes per token and layer; 10 tokens in the full layer, 3 kept in
    # the sliding one.
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), np.array(10.0), kv_spans(spec, AnalysisOptions())
    )
    assert float(kv) == 16 * 10 + 16 * 3


def test_mxfp4_experts_and_the_modules_left_at_16_bits() -> None:
    spec = spec_from_config(GPT_OSS)
    quant = default_quantization(spec)
    assert (quant.w_format, quant.w_bits, quant.a_bits) == ("mxfp4", 4, 16)
    assert unquantized_modules(spec) == ("attention", "router")
    options = AnalysisOptions(quantization=quant, unquantized_modules=unquantized_modules(spec))
    # Per layer: attention 192 weights and 24 biases at 2 bytes; sinks 4; norms 32; router
    # 36 x 2; experts 576 weights at 4.25 bits (MXFP4) plus 80 bf16 biases.
    layer = 192 * 2 + 24 * 2 + 4 + 32 + 72 + 576 * 4.25 / 8 + 80 * 2
    head = 128 * 2 + 128 * 2 + 16
    assert weight_bytes(build_graph(spec, options), quant) == pytest.approx(2 * layer + head)
    # Quantizing attention too stores its 192 weights at 4.25 bits instead.
    everything = weight_bytes(build_graph(spec, AnalysisOptions(quantization=quant)), quant)
    assert everything == pytest.approx(2 * (layer - 192 * 2 + 192 * 4.25 / 8) + head)


# --- Llama 4: chunked attention, interleaved MoE with a shared expert ----------------------


def test_llama4_layers_and_parameters_by_hand() -> None:
    spec = spec_from_config(LLAMA4)
    # NoPE (global) on every 4th layer, chunked elsewhere; MoE on layers 1 and 3.
    assert (spec.chunk_layers, spec.attention_chunk, spec.dense_layers) == (3, 4, 2)
    attention = 4 * (64 + 32 + 32 + 64 + 16)  # q, k, v, o and two norms per layer
    dense = 2 * 3 * 8 * 10  # gate, up, down of width 10 in two layers
    moe = 2 * (8 * 4 + 4 * 3 * 8 * 6 + 3 * 8 * 6)  # router, 4 experts, shared expert
    assert build_graph(spec, AnalysisOptions()).params() == attention + dense + moe + 264


def test_chunked_attention_pairs_keys_and_kv_cache() -> None:
    chunked = Step(batch=np.array(1.0), new_tokens=np.array(10.0), past=np.array(0.0), chunk=4)
    # Positions 1..10 see 1,2,3,4,1,2,3,4,1,2 keys of their own chunk.
    assert float(chunked.causal_pairs) == 23
    decode = Step(batch=np.array(1.0), new_tokens=np.array(1.0), past=np.array(9.0), chunk=4)
    assert float(decode.keys) == 2  # position 10 is the 2nd of its chunk
    spec = spec_from_config(LLAMA4)
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), np.array(10.0), kv_spans(spec, AnalysisOptions())
    )
    # 16 bytes per token and layer; the global layer holds 10 tokens, chunked ones one chunk.
    assert float(kv) == 16 * 10 + 3 * 16 * 4
    # attention_chunk_size present as null turns chunking off (transformers): every layer
    # holds all 10 tokens; it was read as the default 8,192.
    unchunked = spec_from_config({**LLAMA4, "attention_chunk_size": None})
    assert unchunked.attention_chunk is None
    kv = kv_cache_bytes(
        unchunked, Quantization(), np.array(1.0), np.array(10.0),
        kv_spans(unchunked, AnalysisOptions()),
    )  # fmt: skip
    assert float(kv) == 4 * 16 * 10


def test_chunked_flash_attention_counts_only_pairs_within_chunks(toy_device) -> None:
    spec = spec_from_config(LLAMA4)
    options = AnalysisOptions(flash_attention=True)
    toy = toy_device.model_copy(update={"onchip_memory_per_unit": 64 * 1024})
    graph = build_graph(spec, options, toy)
    prefill = Step(batch=np.array(1.0), new_tokens=np.array(10.0), past=np.array(0.0))
    (chunked,) = _op(graph, FlashAttention, chunk=4)
    (full,) = _op(graph, FlashAttention, chunk=None)
    # (4d + 5) b H pairs with d = 4, H = 2: 23 pairs chunked, 55 causal.
    assert float(chunked.cost(prefill, _prec()).ops) == 21 * 2 * 23
    assert float(full.cost(prefill, _prec()).ops) == 21 * 2 * 55


@pytest.mark.parametrize(("s", "g"), [(6, 12), (9, 10), (3, 2)])
def test_generation_in_closed_form_across_chunk_boundaries(toy_device, s: int, g: int) -> None:
    spec = spec_from_config(LLAMA4)
    whole = rooflens.analyze(spec, toy_device, prompt_len=s, gen_len=g)
    # Decode steps run at contexts s..s+g-2, crossing chunk starts (multiples of 4).
    steps = [
        rooflens.analyze(spec, toy_device, prompt_len=c).totals()["decode"]
        for c in range(s, s + g - 1)
    ]
    prefill = whole.totals()["prefill"]
    assert float(whole.generation["ops"]) == pytest.approx(
        float(prefill["ops"]) + sum(float(st["ops"]) for st in steps), rel=1e-12
    )
    assert float(whole.generation["decode_time"]) == pytest.approx(
        sum(float(st["time"]) for st in steps), rel=1e-9
    )


# --- DeepSeek-V3.2: the lightning indexer and top-k MLA ------------------------------------


def test_dsa_indexer_parameters_scores_and_topk_attention() -> None:
    spec = spec_from_config(DSA)
    graph = build_graph(spec, AnalysisOptions())
    names = {op.name: op for op in graph.operators}
    # wq_b 4 -> 2x4, wk 8 -> 4, LayerNorm(4) with bias, weights_proj 8 -> 2.
    indexer = sum(names[n].params() for n in names if n.startswith("indexer_"))
    assert indexer == 4 * 8 + 8 * 4 + 8 + 8 * 2
    (scores,) = _op(graph, IndexerScores)
    prefill = Step(batch=np.array(1.0), new_tokens=np.array(5.0), past=np.array(0.0))
    cost = scores.cost(prefill, _prec())
    # 15 causal pairs, 2 heads x (2 x 4 dot + ReLU + weight) each, one comparison per score.
    assert (float(cost.ops), float(cost.vector_ops)) == (15 * 2 * 10, 15)
    decode = Step(batch=np.array(1.0), new_tokens=np.array(1.0), past=np.array(10.0))
    # Every one of the 11 keys scored; its FP8 index key and fp32 scale read; the new one's
    # written.
    decode_cost = scores.cost(decode, _prec())
    assert (float(decode_cost.load_kv), float(decode_cost.store_kv)) == (11 * 8, 8)
    (mla,) = _op(graph, LatentAttention)
    assert mla.span == 3 and mla.sparse
    # MLA reads only the top-3 latents (4 + 2 values at 2 bytes).
    assert float(mla.cost(decode, _prec()).load_kv) == 3 * 6 * 2
    # A prefill runs the sparse kernel's work: each of the 5 queries over all 3 index slots
    # (the first two have fewer keys), its heads padded to a block of 64, beside the
    # absorption GEMMs of its own heads (q_nope -> latent, latent -> v).
    h, c, r = mla.num_heads, mla.kv_lora, mla.rope_dim
    nope, v = mla.head_dim - r, mla.v_dim
    absorb = 2 * 5 * h * nope * c + 2 * 5 * h * c * v
    assert h < 64
    assert float(mla.cost(prefill, _prec()).ops) == absorb + 64 * 5 * 3 * (2 * (c + r) + 2 * c + 5)
    # 96 heads take two blocks (128); a chunk after 10 cached tokens counts the same slots.
    wide = LatentAttention(
        "dsa", "block", ("q",), "o", num_heads=96, head_dim=6, rope_dim=2, v_dim=2, kv_lora=4,
        span=3, sparse=True,
    )  # fmt: skip
    chunk = Step(batch=np.array(2.0), new_tokens=np.array(3.0), past=np.array(10.0))
    absorb = 2 * 6 * 96 * 4 * 4 + 2 * 6 * 96 * 4 * 2
    assert float(wide.cost(chunk, _prec()).ops) == absorb + 2 * 128 * 3 * 3 * (2 * 6 + 8 + 5)
    # The cache: latent and rotary key (6 x 2 bytes) plus the 8-byte index key per token.
    kv = kv_cache_bytes(spec, Quantization(), np.array(1.0), np.array(10.0))
    assert float(kv) == 10 * (12 + 8)


def test_glm5_shared_indexer_layers_skip_the_indexer() -> None:
    config = {
        **DSA,
        "model_type": "glm_moe_dsa",
        "num_hidden_layers": 4,
        "first_k_dense_replace": 4,
        "indexer_types": ["full", "shared", "shared", "full"],
    }
    spec = spec_from_config(config)
    assert spec.index_layers == 2
    graph = build_graph(spec, AnalysisOptions())
    indexer = sum(
        graph.count(op) * op.params() for op in graph.operators if op.name.startswith("indexer_")
    )
    assert indexer == 2 * 88  # two layers hold an indexer of 88 parameters
    # Index keys cached in the two indexer layers only: 8 bytes per token there.
    kv = kv_cache_bytes(spec, Quantization(), np.array(1.0), np.array(10.0))
    assert float(kv) == 10 * (4 * 12 + 2 * 8)


@pytest.mark.parametrize(
    ("types", "message"),
    [
        # Misspelt entries had read as shared: ["ful"] * 4 ran no indexer anywhere.
        (["full", "ful", "shared", "full"], "holds ['ful']; supported: ['full', 'shared']"),
        (["full", None, "shared", "full"], "indexer_types holds [None]; supported"),
        ("full", "indexer_types='full' is invalid: expected a JSON array of 4 entries"),
        (["full"] * 3, "indexer_types has 3 entries for num_hidden_layers=4"),
        # A shared first layer has no top-k to reuse (GlmMoeDsaAttention raises).
        (["shared"] * 4, "indexer_types[0]='shared' is not supported (0 of 4 layers \"full\")"),
        (["shared", "full", "full", "full"], "indexer_types[0]='shared' is not supported (3 of 4"),
    ],
)  # fmt: skip
def test_glm5_indexer_types_it_cannot_run_are_refused(types, message) -> None:
    config = {
        **DSA,
        "model_type": "glm_moe_dsa",
        "num_hidden_layers": 4,
        "first_k_dense_replace": 4,
    }
    with pytest.raises(ModelConfigError) as refused:
        spec_from_config(config | {"indexer_types": types})
    assert message in str(refused.value)


# --- Checkpoint quantization ---------------------------------------------------------------


def _int4_groups_of_32(symmetric: bool) -> dict:
    """compressed-tensors' INT4 weights in groups of 32, as Kimi K2's experts are stored."""
    weights = {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32}
    return {
        "quant_method": "compressed-tensors",
        "config_groups": {"group_0": {"weights": weights | {"symmetric": symmetric}}},
    }


@pytest.mark.parametrize(
    ("config", "bits", "a_bits", "skipped"),
    [
        ({"quant_method": "fp8", "weight_block_size": [128, 128]}, 8 + 32 / 16384, 8, ()),
        # MXFP4 stores the experts alone: every other class 16-bit, listed or not.
        ({"quant_method": "mxfp4"}, 4.25, 16,
         ("attention", "mixer", "indexer", "mlp", "shared_experts", "router", "latent")),
        (
            {
                "quant_method": "modelopt",
                "quant_algo": "NVFP4",
                "group_size": 16,
                "exclude_modules": ["lm_head", "model.layers.0.self_attn*"],
            },
            4.5,
            4,
            ("attention",),
        ),
        (
            {
                "quant_method": "awq",
                "bits": 4,
                "group_size": 128,
                "zero_point": True,
                "modules_to_not_convert": ["visual"],
            },
            4 + 20 / 128,
            16,
            (),
        ),
        ({"quant_method": "gptq", "bits": 8, "group_size": -1}, 8 + 24 / 4096, 16, ()),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {
                    "group_0": {
                        "targets": ["Linear"],
                        "weights": {
                            "num_bits": 8,
                            "type": "float",
                            "strategy": "block",
                            "block_structure": [128, 128],
                        },
                        "input_activations": {"num_bits": 8, "type": "float", "dynamic": True},
                    }
                },
                "ignore": ["lm_head", "re:.*mlp.gate$"],
            },
            8 + 32 / 16384,
            8,
            ("router",),
        ),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {
                    "group_0": {
                        "weights": {
                            "num_bits": 4,
                            "type": "float",
                            "strategy": "tensor_group",
                            "group_size": 16,
                        },
                        "input_activations": {"num_bits": 4, "type": "float"},
                    }
                },
                "ignore": ["lm_head", "re:.*self_attn.*", "model.layers.0.mlp.shared_experts"],
            },
            4.5,
            4,
            ("attention", "shared_experts"),
        ),
        # Kimi K2's INT4 experts: symmetric groups of 32 store an fp16 scale and no zero
        # point (4 + 16/32 bits), where an asymmetric scheme adds a 4-bit zero per group.
        (_int4_groups_of_32(symmetric=True), 4 + 16 / 32, 16, ()),
        (_int4_groups_of_32(symmetric=False), 4 + 20 / 32, 16, ()),
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": False},
         4 + 16 / 128, 16, ()),
    ],
)  # fmt: skip
def test_quantization_config_bits_per_weight(config, bits, a_bits, skipped) -> None:
    checkpoint = read_quantization_config(config)
    assert checkpoint.quantization.weight_bits_per_param(4096) == pytest.approx(bits)
    assert checkpoint.quantization.a_bits == a_bits
    assert checkpoint.unquantized == skipped


def test_fp8_kv_cache_recipes_are_read() -> None:
    nvidia = {
        "quant_method": "modelopt",
        "quant_algo": "NVFP4",
        "kv_cache_quant_algo": "FP8",
        "group_size": 16,
        "exclude_modules": ["lm_head"],
    }
    assert read_quantization_config(nvidia).quantization.kv_bits == 8
    llmc = {
        "quant_method": "compressed-tensors",
        "kv_cache_scheme": {"num_bits": 8, "type": "float"},
        "config_groups": {
            "g": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}
        },
    }
    quant = read_quantization_config(llmc).quantization
    assert (quant.kv_bits, quant.a_bits, quant.w_scale) == (8, 16, "channel")


def test_unknown_quant_method_and_module_are_refused() -> None:
    with pytest.raises(ModelConfigError, match=r"'hqq'.*supported: fp8, mxfp4"):
        read_quantization_config({"quant_method": "hqq"})
    with pytest.raises(ModelConfigError, match="'foo'"):
        read_quantization_config({"quant_method": "mxfp4", "modules_to_not_convert": ["foo"]})
    with pytest.raises(ModelConfigError, match="quant_method=None"):
        spec_from_config({**GPT_OSS, "quantization_config": {"bits": 4}})


def test_bundled_fp8_checkpoint_reads_its_blocks() -> None:
    spec = load_model("deepseek-ai/DeepSeek-V3")
    q = default_quantization(spec)
    assert (q.w_format, q.w_bits, q.a_bits, q.w_scale) == ("fp", 8, 8, 16384)
    assert default_quantization(load_model("meta-llama/Llama-2-7b-hf")) == Quantization()


# --- Multimodal wrapper --------------------------------------------------------------------


def test_gemma3_wrapper_reads_the_language_model_and_the_vision_tower(toy_device) -> None:
    spec = spec_from_config(GEMMA3)
    assert (spec.model_type, spec.window_layers, spec.qk_norm) == ("gemma3", 1, True)
    # Language model: q 64, k 32, v 32, o 64, q/k norms 4 + 4, four norms 32, MLP 3 x 48.
    assert build_graph(spec, AnalysisOptions()).params() == 2 * 376 + 128 + 8
    # Vision: patch conv 12 -> 4 with bias, 4 learned positions, one block (2 LayerNorms,
    # q/k/v/o with biases, fc1/fc2 with biases), post LayerNorm, projector RMSNorm and a
    # 4 -> 8 linear without bias.
    assert vision_params(spec) == 52 + 16 + 16 + 80 + 30 + 28 + 8 + 4 + 32
    vision = price_images(spec, toy_device, 1)
    qk = vision.names.index("vision_qk_matmul")
    # Bidirectional: all 4 x 4 patch pairs, 2 heads of 2 dims: 2 b H q k d.
    assert float(vision.ops[qk]) == 2 * 1 * 2 * 4 * 4 * 2
    # The projector runs on the one pooled token, not the 4 patches: 2 x 1 x 4 x 8.
    projector = vision.names.index("vision_projector0")
    assert float(vision.ops[projector]) == 2 * 1 * 4 * 8
    assert float(vision.fields["store_act"][projector]) == 1 * 8 * 2
    # A profile's per-element overhead reaches the encoder's layers at its own width:
    # 1 layer x 4 patches x hidden 4 x 1e-9 s.
    flat = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))
    classes = {
        c: ClassEfficiency(compute=flat, memory=flat) for c in ("matmul", "attention", "vector")
    }
    profile = EfficiencyProfile(
        device="toy", classes=classes, graph_overhead_per_layer_element=1e-9
    )
    options = AnalysisOptions(calibration=profile)
    with_overhead = price_images(spec, toy_device, 1, options)
    assert float(with_overhead.overhead) == pytest.approx(1 * 4 * 4 * 1e-9)
    with_image = rooflens.analyze(spec, toy_device, prompt_len=10, gen_len=2, images=1)
    assert float(with_image.prompt_len) == 11  # one image token joins the prompt
    assert float(with_image.generation["ttft"]) == pytest.approx(
        float(with_image.steps["prefill"].step_time() + with_image.steps["vision"].step_time())
    )
    # The tower runs, so its weights are resident beside the language model's (16-bit here).
    text_only = rooflens.analyze(spec, toy_device, prompt_len=11, gen_len=2)
    tower = vision_params(spec) * 2
    assert float(with_image.memory["prefill"].weights) == pytest.approx(
        float(text_only.memory["prefill"].weights) + tower
    )


@pytest.mark.parametrize("use_head", [True, None])
def test_gemma3_refuses_a_siglip_tower_with_its_pooling_head(use_head: bool | None) -> None:
    # SiglipVisionConfig's vision_use_head defaults to true: transformers then builds an
    # attention-pooling head Gemma 3 never runs; its published configs set it false.
    vision = {k: v for k, v in GEMMA3["vision_config"].items() if k != "vision_use_head"}
    if use_head is not None:
        vision["vision_use_head"] = use_head
    with pytest.raises(
        ModelConfigError,
        match=r"'gemma3.vision_config': vision_use_head=True is not supported; supported: false",
    ):
        spec_from_config({**GEMMA3, "vision_config": vision})
    # The bundled Gemma-3-27B sets it false, as Google's configs do.
    assert load_model("google/gemma-3-27b-it").vision is not None


def test_qwen3_vl_moe_wrapper_reads_a_qwen3_moe_language_model() -> None:
    config = {
        "model_type": "qwen3_vl_moe",
        "text_config": {
            "model_type": "qwen3_vl_moe_text",
            "num_hidden_layers": 1,
            "hidden_size": 8,
            "intermediate_size": 6,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 4,
            "vocab_size": 16,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 3,
            "tie_word_embeddings": False,
        },
        "vision_config": {
            "depth": 1,
            "hidden_size": 4,
            "intermediate_size": 6,
            "num_heads": 2,
            "out_hidden_size": 8,
            "deepstack_visual_indexes": [],
        },
    }
    spec = spec_from_config(config)
    assert (spec.num_experts, spec.experts_per_token, spec.qk_norm) == (4, 2, True)
    # q 64, k 32, v 32, o 64, q/k norms 8, 2 norms 16, router 32, 4 experts of 3 x 8 x 3.
    block = 64 + 32 + 32 + 64 + 8 + 16 + 32 + 4 * 3 * 24
    assert build_graph(spec, AnalysisOptions()).params() == block + 128 + 128 + 8
    # A 1024 x 1024 image: 64 x 64 patches of 16, merged 2 x 2 into 1024 tokens.
    assert (spec.vision.patches, spec.vision.tokens_per_image) == (4096, 1024)


def test_images_for_a_text_only_model_are_refused(toy_device) -> None:
    with pytest.raises(InvalidInputError) as info:
        rooflens.analyze(spec_from_config(GPT_OSS), toy_device, prompt_len=8, images=1)
    assert info.value.field == "images"


# --- Config errors -------------------------------------------------------------------------


def test_unknown_model_type_names_the_supported_ones() -> None:
    with pytest.raises(ModelConfigError, match=r"'nope'.*gpt_oss.*llama4"):
        spec_from_config({"model_type": "nope"})


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({k: v for k, v in GPT_OSS.items() if k != "num_local_experts"}, "num_local_experts"),
        ({k: v for k, v in DSA.items() if k != "kv_lora_rank"}, "kv_lora_rank"),
        ({"model_type": "llama4"}, "text_config"),
        ({**GPT_OSS, "layer_types": ["full_attention"]}, "layer_types"),
    ],
)
def test_a_missing_or_inconsistent_field_is_named(config, field) -> None:
    with pytest.raises(ModelConfigError, match=field):
        spec_from_config(config)


# --- MTP and the bundled models ------------------------------------------------------------


def test_mtp_modules_counted_apart_as_deepseek_v3_stores_them() -> None:
    # DeepSeek-V3's checkpoint (less FP8 scales) holds 684,489,845,504 parameters, of which
    # 671,026,419,200 are the main model (tests/data/published_params.toml).
    spec = load_model("deepseek-ai/DeepSeek-V3")
    assert mtp_params(spec) == 684_489_845_504 - 671_026_419_200
    assert mtp_params(load_model("moonshotai/Kimi-K2-Instruct")) == 0


NEW_MODELS = [
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "meta-llama/Llama-4-Scout-17B-16E",
    "meta-llama/Llama-4-Maverick-17B-128E",
    "google/gemma-3-1b-it",
    "google/gemma-3-27b-it",
    "deepseek-ai/DeepSeek-V3.2",
    "zai-org/GLM-4.5",
    "zai-org/GLM-4.5-Air",
    "zai-org/GLM-5.1",
    "moonshotai/Kimi-K2-Instruct",
    "MiniMaxAI/MiniMax-M2",
    "Qwen/Qwen3-VL-4B-Instruct",
    "mistralai/Mistral-Small-3.2-24B-Instruct-2506",
]


@pytest.mark.parametrize("model_id", NEW_MODELS)
def test_every_new_model_analyses_with_its_checkpoint_precision(model_id: str) -> None:
    spec = load_model(model_id)
    images = 1 if spec.vision else 0
    native = {
        "quantization": default_quantization(spec),
        "unquantized_modules": unquantized_modules(spec),
    }
    result = rooflens.core.analyze(
        spec,
        rooflens.get_device("h200-sxm"),
        prompt_len=512,
        gen_len=8,
        options=AnalysisOptions(**native),
        images=images,
    )
    assert {"prefill", "decode"} <= set(result.steps)
    assert ("vision" in result.steps) == bool(spec.vision)
    assert float(result.generation["ttft"]) > 0 and float(result.generation["tpot"]) > 0
    memory = result.memory["generation"]
    assert float(memory.kv_cache) > 0 and float(memory.total) > float(memory.weights)
    if spec.checkpoint_quant is not None:  # a quantized checkpoint stores fewer bytes
        plain = rooflens.core.analyze(spec, rooflens.get_device("h200-sxm"), prompt_len=512)
        assert float(memory.weights) < float(plain.memory["decode"].weights)


def test_gpt_oss_20b_serves_requests() -> None:
    requests = Requests(np.array([0.0, 0.05]), np.array([600, 300]), np.array([12, 6]), 0)
    result = rooflens.simulate("openai/gpt-oss-20b", "h100-sxm", requests)
    rows = result.requests
    assert len(rows) == 2 and (rows["ttft"] > 0).all() and (rows["tpot"] > 0).all()
    # Alone at t = 0, the first request sees the analyzer's prefill.
    alone = rooflens.analyze("openai/gpt-oss-20b", "h100-sxm", prompt_len=600, gen_len=12)
    assert rows.iloc[0]["ttft"] == pytest.approx(float(alone.generation["ttft"]), rel=1e-9)


def test_mtp_modules_draft_for_built_in_speculative_decoding() -> None:
    one = rooflens.speculate("deepseek-ai/DeepSeek-V3", "h200-sxm", gamma=1, alpha=0.8, mtp=True)
    two = rooflens.speculate("deepseek-ai/DeepSeek-V3", "h200-sxm", gamma=2, alpha=0.8, mtp=True)
    # Leviathan et al.: (1 - a^(g+1)) / (1 - a) tokens per target step.
    assert float(one.tokens_per_step) == pytest.approx(1.8)
    assert float(two.tokens_per_step) == pytest.approx(1 + 0.8 + 0.64)
    # gamma sequential steps of the same module; one module is far cheaper than 61 layers.
    assert float(two.draft_time) == pytest.approx(2 * float(one.draft_time))
    assert float(one.draft_time) < float(one.plain_step) / 5
    with pytest.raises(InvalidInputError) as info:
        rooflens.speculate("moonshotai/Kimi-K2-Instruct", "h200-sxm", gamma=1, alpha=0.8, mtp=True)
    assert info.value.field == "mtp"


def test_verification_steps_use_the_absorbed_latent_attention() -> None:
    mla = LatentAttention(
        "latent_attention",
        "block",
        ("q", "kv"),
        "attn",
        num_heads=2,
        head_dim=4,
        rope_dim=2,
        v_dim=2,
        kv_lora=4,
    )
    verify = Step(batch=np.array(1.0), new_tokens=np.array(2.0), past=np.array(10.0))
    spec = replace(mla, absorbed_up_to=2)
    # Absorbed: q_nope -> latent 2 T h nope c, scores b h q k (2(c+r) + 2c + 5) over 12 keys,
    # latent -> v 2 T h c v, with T = 2, h = 2, nope = 2, c = 4, r = 2, v = 2.
    scores = 1 * 2 * 2 * 12
    expected = 2 * 2 * 2 * 2 * 4 + scores * (2 * 6 + 2 * 4 + 5) + 2 * 2 * 2 * 4 * 2
    assert float(spec.cost(verify, _prec()).ops) == expected
    assert float(mla.cost(verify, _prec()).ops) != expected  # a 2-token prefill decompresses


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # Each was an internal error (IndexError, ValueError, AttributeError) or read silently
        # as something else ("128" as blocks of 2, 4.5 bits as 4, weights null as 8-bit).
        ({"quant_method": "fp8", "weight_block_size": [128]}, r"weight_block_size=\[128\]"),
        ({"quant_method": "fp8", "weight_block_size": "128"}, r"weight_block_size='128'"),
        ({"quant_method": "awq", "bits": "four"}, r"bits='four' is invalid"),
        ({"quant_method": "awq", "bits": 4.5}, r"bits=4.5 is invalid"),
        ({"quant_method": "gptq", "bits": 4, "group_size": 0}, r"group_size=0 is invalid"),
        ({"quant_method": "compressed-tensors", "config_groups": [{"weights": {"num_bits": 4}}]},
         r"config_groups=.* expected an object of named groups"),
        ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": None}}},
         r"weights=\[None\] is invalid"),
        ({"quant_method": "compressed-tensors",
          "config_groups": {"g": {"weights": {"num_bits": "x"}}}},
         r"weights.num_bits='x' is invalid"),
    ],
)  # fmt: skip
def test_malformed_quantization_configs_are_config_errors(config, message) -> None:
    with pytest.raises(ModelConfigError, match=message):
        read_quantization_config(config)


@pytest.mark.parametrize(
    "window_fields",
    [
        {"max_window_layers": 2},
        {"max_window_layers": 0, "layer_types": ["full_attention"] * 2 + ["sliding_attention"] * 2},
    ],
)
def test_qwen_sliding_window_covers_only_the_layers_it_names(window_fields) -> None:
    """Qwen2/3 window only the layers from max_window_layers on (or those layer_types marks);
    every layer was windowed (Qwen3-8B with use_sliding_window at 16k: 604 MB for 2,013)."""
    config = {
        "model_type": "qwen3", "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "vocab_size": 100, "use_sliding_window": True, "sliding_window": 8,
        **window_fields,
    }  # fmt: skip
    spec = spec_from_config(config)
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), np.array(20.0), kv_spans(spec, AnalysisOptions())
    )
    # 2 x 2 KV heads x 16 x 2 bytes = 128 bytes per token and layer: two layers keep 20
    # tokens, two their window of 8.
    assert float(kv) == 128 * (2 * 20 + 2 * 8)
    assert spec_from_config({**config, "use_sliding_window": False}).sliding_window is None


def test_compressed_tensors_targets_quantize_only_what_they_match() -> None:
    """A scheme targeting the experts alone priced every linear at 4 bits (Qwen3-30B-A3B:
    16.8 GB for 18.0)."""
    scheme = {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128}
    experts_only = read_quantization_config({
        "quant_method": "compressed-tensors",
        "config_groups": {"g": {"targets": ["re:.*mlp.experts.*"], "weights": scheme}},
    })  # fmt: skip
    assert set(experts_only.unquantized) == {
        "attention", "mixer", "indexer", "mlp", "shared_experts", "router", "latent"
    }  # fmt: skip
    every_linear = read_quantization_config({
        "quant_method": "compressed-tensors",
        "config_groups": {"g": {"targets": ["Linear"], "weights": scheme}},
        "ignore": ["re:.*self_attn.*"],
    })  # fmt: skip
    assert every_linear.unquantized == ("attention",)
    with pytest.raises(ModelConfigError, match="in its config_groups' targets is"):
        read_quantization_config({
            "quant_method": "compressed-tensors",
            "config_groups": {"g": {"targets": ["Conv2d"], "weights": scheme}},
        })  # fmt: skip
