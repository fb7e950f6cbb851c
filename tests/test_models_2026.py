"""Models and checkpoints of 2026: Nemotron 3, GLM-5's MTP layer, ModelOpt's KV-cache recipe
and its Hub fetch, Gemma 4's MoE block, and the new families' mechanisms on hand-checked tiny
configs."""

from __future__ import annotations

import json

import huggingface_hub
import numpy as np
import pytest

import rooflens
import rooflens.formats
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.mtp import mtp_params
from rooflens.core.operators import ExpertLinear
from rooflens.hardware.catalog import get_device
from rooflens.models import load_model, spec_from_config
from rooflens.models.catalog import bundled_config
from rooflens.models.quant import default_quantization, read_quantization_config
from rooflens.serving import Requests
from rooflens.settings import Settings


def op(graph, name: str):
    return next(o for o in graph.operators if o.name == name)


# --- Nemotron 3 ------------------------------------------------------------------------------


def _serves_as_analyzed(model: object, device: str, prompt: int, **options: object) -> None:
    """A lone request in the simulator takes the analysis's TTFT and TPOT for its prompt and
    4 generated tokens (two paths through the pricing agree), and no decode step beats
    reading the step's weights at the device's bandwidth (the roofline's memory floor)."""
    result = rooflens.analyze(model, device, prompt_len=prompt, gen_len=4, **options)
    lone = Requests(np.array([0.0]), np.array([prompt]), np.array([4]), 0)
    served = rooflens.simulate(model, device, lone, **options).requests.iloc[0]
    assert served["ttft"] == pytest.approx(float(result.generation["ttft"]), rel=1e-9)
    assert served["tpot"] == pytest.approx(float(result.generation["tpot"]), rel=1e-9)
    rows = result.operators()
    decode = rows[rows["stage"] == "decode"]
    weights = float((decode["count"] * decode["load_weight"]).sum())
    assert float(result.generation["tpot"]) >= weights / get_device(device).memory_bandwidth


def test_nemotron_3_nano_counts_its_moe_mamba_and_attention_layers() -> None:
    spec = load_model("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    # MEMEM*E...: 23 Mamba2, 23 MoE, 6 attention layers; no dense MLP layer.
    assert (spec.mixer_layers, spec.attention_layers, spec.mlp_layers) == (23, 6, 23)
    assert (spec.num_experts, spec.experts_per_token, spec.dense_layers) == (128, 6, 0)
    graph = build_graph(spec, AnalysisOptions())
    assert graph.count(op(graph, "mixer_scan")) == 23
    assert graph.count(op(graph, "q_proj")) == 6
    # The model card's 31.6B, to the parameter as llama.cpp counts the converted checkpoint.
    assert graph.params() == 31_577_940_288


def test_nemotron_3_nano_generates_and_serves() -> None:
    result = rooflens.analyze(
        "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "h200-sxm", prompt_len=2048, gen_len=16
    )
    assert float(result.generation["ttft"]) > 0 and float(result.generation["tpot"]) > 0
    _serves_as_analyzed("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "h200-sxm", 512)


# --- GLM-5's MTP layer -----------------------------------------------------------------------


def test_qwen35_mtp_layer_is_a_full_attention_block_sharing_the_embedding() -> None:
    from rooflens.core.mtp import mtp_graph

    qwen = load_model("Qwen/Qwen3.5-397B-A17B")
    assert (qwen.mtp_layers, qwen.mtp_own_embeddings) == (1, False)
    with_copies = qwen.model_copy(update={"mtp_own_embeddings": True})
    assert mtp_params(with_copies) - mtp_params(qwen) == 2 * 248_320 * 4_096
    names = [op.name for op in mtp_graph(qwen).operators]
    # vLLM pins Qwen3-Next's MTP layer to full attention: gated, no Gated DeltaNet mixer.
    assert "attn_gate_proj" in names and "qk_matmul" in names
    assert not any(name.startswith("mixer_") for name in names)


def test_glm5_mtp_layer_stores_no_embedding_or_head() -> None:
    glm = load_model("zai-org/GLM-5.1")
    assert not glm.mtp_own_embeddings
    with_copies = glm.model_copy(update={"mtp_own_embeddings": True})
    # Untied embedding and head, each vocabulary x hidden = 154880 x 6144.
    assert mtp_params(with_copies) - mtp_params(glm) == 2 * 154_880 * 6_144
    main = build_graph(glm, AnalysisOptions()).params()
    # The report's 744B leaves the MTP layer out; the checkpoint's 754B keeps it.
    assert round(main / 1e9) == 744 and round((main + mtp_params(glm)) / 1e9) == 754
    # DeepSeek-V3 and GLM-4.5 still store their own copies.
    assert load_model("zai-org/GLM-4.5").mtp_own_embeddings


def test_an_mtp_layer_runs_one_indexer_whatever_the_main_model_counts() -> None:
    """GLM-5.1's exports list indexer_types, 78 "full" entries: the model's indexer layers
    counted 78 indexers into the MTP module's one layer (10,674,557,184 parameters)."""
    config = dict(bundled_config("zai-org/GLM-5.1"))
    listed = spec_from_config({**config, "indexer_types": ["full"] * 78})
    assert listed.index_layers == 78
    assert mtp_params(listed) == mtp_params(load_model("zai-org/GLM-5.1")) == 9_952_920_576


# --- ModelOpt's KV-cache recipe --------------------------------------------------------------


@pytest.mark.parametrize(
    ("algo", "kv_bits"), [("FP8", 8), ("fp8", 8), ("NVFP4", 4), ("INT8", 8), (None, 16)]
)
def test_modelopt_kv_cache_algo_is_the_checkpoints_kv_precision(algo, kv_bits) -> None:
    recipe = {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": algo}
    assert read_quantization_config(recipe).quantization.kv_bits == kv_bits


def test_a_kv_only_modelopt_recipe_keeps_16_bit_weights() -> None:
    recipe = {"quant_method": "modelopt", "quant_algo": None, "kv_cache_quant_algo": "FP8"}
    quant = read_quantization_config(recipe).quantization
    assert (quant.w_bits, quant.a_bits, quant.kv_bits) == (16, 16, 8)


def test_an_unknown_kv_cache_algo_is_refused() -> None:
    recipe = {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP6"}
    with pytest.raises(ModelConfigError, match=r"kv_cache_quant_algo='FP6'.*FP8, INT8, NVFP4"):
        read_quantization_config(recipe)


def test_the_checkpoint_kv_precision_is_a_default_the_setting_overrides() -> None:
    spec = load_model("nvidia/Qwen3-32B-NVFP4")
    assert default_quantization(spec).kv_bits == 8
    assert Settings().analysis_options(model=spec).quantization.kv_bits == 8
    assert Settings(kv_bits=16).analysis_options(model=spec).quantization.kv_bits == 16


_TINY_LLAMA = {
    "model_type": "llama",
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "vocab_size": 100,
}


def _fake_hub(monkeypatch, folder, files: dict[str, object]) -> list[tuple[str, bool]]:
    """huggingface_hub.hf_hub_download over a folder holding `files` (no network)."""
    calls: list[tuple[str, bool]] = []
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content))

    def download(*, repo_id: str, filename: str, local_files_only: bool = False, **_: object):
        calls.append((filename, local_files_only))
        if not (folder / filename).is_file():
            raise FileNotFoundError(f"{repo_id} has no {filename}")
        return str(folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return calls


def test_hub_fetch_reads_a_modelopt_hf_quant_config(monkeypatch, tmp_path) -> None:
    recipe = {"quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": "FP8"}}
    calls = _fake_hub(
        monkeypatch, tmp_path, {"config.json": _TINY_LLAMA, "hf_quant_config.json": recipe}
    )
    spec = load_model("someone/tiny-nvfp4")
    quant = default_quantization(spec)
    assert (spec.checkpoint_quant.method, quant.w_format, quant.kv_bits) == ("modelopt", "nvfp4", 8)
    # Found in the cache, so nothing is asked of the network.
    assert calls == [("config.json", True), ("hf_quant_config.json", True)]


def test_hub_fetch_without_hf_quant_config_is_16_bit(monkeypatch, tmp_path) -> None:
    _fake_hub(monkeypatch, tmp_path, {"config.json": _TINY_LLAMA})
    assert load_model("someone/tiny").checkpoint_quant is None


# --- Kimi K3: KDA + gated MLA, latent MoE, Block Attention Residuals --------------------------

# A tiny kimi_k3: hidden 64, 4 layers (MLA at layers 2 and 4, KDA at 1 and 3: 1-based), 4 KDA
# heads of 16, 4 MLA heads, 8 experts of 32 in a latent width of 48, two shared experts, one
# dense first layer of 96, AttnRes blocks of 2 layers.
TINY_K3_TEXT = {
    "model_type": "kimi_linear",
    "vocab_size": 100,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "hidden_act": "situ",
    "q_lora_rank": 32,
    "kv_lora_rank": 16,
    "qk_nope_head_dim": 8,
    "qk_rope_head_dim": 4,
    "v_head_dim": 8,
    "mla_use_output_gate": True,
    "num_experts": 8,
    "num_experts_per_token": 2,
    "num_shared_experts": 2,
    "moe_intermediate_size": 32,
    "routed_expert_hidden_size": 48,
    "first_k_dense_replace": 1,
    "attn_res_block_size": 2,
    "tie_word_embeddings": False,
    "linear_attn_config": {
        "num_heads": 4,
        "head_dim": 16,
        "short_conv_kernel_size": 4,
        "use_full_rank_gate": True,
        "full_attn_layers": [2, 4],
        "kda_layers": [1, 3],
    },
}
TINY_K3 = {
    "model_type": "kimi_k3",
    "text_config": TINY_K3_TEXT,
    "vision_config": {
        "vt_hidden_size": 32,
        "vt_num_hidden_layers": 2,
        "vt_num_attention_heads": 2,
        "vt_intermediate_size": 64,
        "qkv_hidden_size": 48,
        "patch_size": 14,
        "merge_kernel_size": [2, 2],
        "init_pos_emb_height": 4,
        "init_pos_emb_width": 4,
        "mm_projector_type": "patchmergerv2",
        "text_hidden_size": 64,
    },
}


def test_tiny_kimi_k3_parameters_by_hand() -> None:
    from rooflens.core.vision import vision_params
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_K3)
    h, v, k = 64, 4 * 16, 4 * 16
    kda = (
        h * (2 * k + v)  # q, k, v projections
        + h * 4  # beta, one per head
        + h * 16 + 16 * k  # decay through a head_dim bottleneck (f_a, f_b)
        + h * v  # full-rank output gate (g_proj)
        + 3 * 64 * 4  # short convolutions over q, k, v
        + 4 + k  # A_log per head, dt_bias per key channel
        + 16  # output RMSNorm over a head
        + v * h  # o_proj
    )  # fmt: skip
    mla = (
        h * 32 + 32 + 32 * 4 * 12  # q_a, its norm, q_b (nope 8 + rope 4 per head)
        + h * (16 + 4) + 16  # kv_a (latent + rotary key), its norm
        + 16 * 4 * (8 + 8)  # kv_b (keys' nope part and values)
        + h * 4 * 8  # output gate (g_proj) over H x v_head_dim
        + 4 * 8 * h  # o_proj
    )  # fmt: skip
    moe = (
        h * 8 + 8  # router with its score-correction bias
        + h * 48 + 48 + 48 * h  # latent projections in and out, latent RMSNorm
        + 8 * 3 * 48 * 32  # experts in the latent width
        + 3 * h * 64  # two shared experts of 32
    )  # fmt: skip
    dense = 3 * h * 96
    per_layer_norms = 2 * h + 2 * (2 * h)  # two RMSNorms, two AttnRes (query and key norm)
    lm = 2 * 100 * h + 2 * kda + 2 * mla + 3 * moe + dense + 4 * per_layer_norms + 3 * h
    ours = build_graph(spec, AnalysisOptions()).params()
    assert ours == lm
    # MoonViT (K3 layout): q/k/v 48 wide over a 32-wide stream, no biases, RMSNorms.
    vit = 3 * 14 * 14 * 32 + 16 * 32 + 2 * (4 * 32 * 48 + 2 * 32 * 64 + 2 * 32) + 32
    projector = 128 * 128 + 128 * 64 + 64
    assert vision_params(spec) == vit + projector


def test_attention_residual_sources_and_cost() -> None:
    from rooflens.core.graph import depth_sources
    from rooflens.core.operators import DepthAttention, Precision, Step
    from rooflens.core.options import Quantization

    # 5 layers in blocks of 2: 1, 2, 2, 3, 3 sources; the output sees b0, two blocks, a partial.
    assert depth_sources(5, 2) == (11 / 5, 4)
    # Kimi K3: 93 layers in blocks of 12, at most 9 sources (the K3 report's "9 candidates").
    mean, final = depth_sources(93, 12)
    assert final == 9 and 1 < mean < 9
    op = DepthAttention("res", "block", ("x",), "x", width=64, sources=3)
    step = Step(batch=np.array(2.0), new_tokens=np.array(5.0), past=np.array(0.0))
    cost = op.cost(step, Precision(Quantization()))
    # 10 tokens x 3 sources x (norm 4 + dot 2 + sum 2 per element x 64 + softmax 5).
    assert float(cost.ops) == 10 * 3 * (8 * 64 + 5)
    assert float(cost.load_act) == 10 * 3 * 64 * 2 and float(cost.store_act) == 10 * 64 * 2


def test_situ_activation_ops() -> None:
    from rooflens.core.operators import Activation, Precision, Step
    from rooflens.core.options import Quantization

    act = Activation("a", "block", ("g", "u"), "y", width=10, function="situ", gated=True)
    step = Step(batch=np.array(1.0), new_tokens=np.array(3.0), past=np.array(0.0))
    # Gate 10 + up 6 + the product 1, per element.
    assert float(act.cost(step, Precision(Quantization())).ops) == 3 * 10 * 17


def test_latent_moe_runs_experts_in_the_latent_width() -> None:
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_K3)
    graph = build_graph(spec, AnalysisOptions())
    up = op(graph, "expert_up_proj")
    assert (up.in_features, op(graph, "expert_down_proj").out_features) == (48, 48)
    assert (op(graph, "latent_in_proj").out_features, op(graph, "latent_out_proj").in_features) == (
        48,
        48,
    )
    # Expert parallelism exchanges the latent, not the hidden state.
    from rooflens.core.options import Parallelism

    ep = build_graph(spec, AnalysisOptions(parallelism=Parallelism(ep=2, link_bandwidth=1e11)))
    assert op(ep, "moe_dispatch").width == 48


def test_kimi_k3_matches_its_checkpoint_and_serves() -> None:
    from rooflens.core.vision import vision_params

    spec = load_model("moonshotai/Kimi-K3")
    assert (spec.mixer_layers, spec.attention_layers, spec.dense_layers) == (69, 24, 1)
    assert (spec.expert_latent_size, spec.attn_res_block) == (3584, 12)
    assert spec.mixer.full_rank_gate and spec.attention_output_gate
    total = build_graph(spec, AnalysisOptions()).params() + vision_params(spec)
    # The checkpoint's tensors hold 2,779,931,837,184 parameters; its KDA A_log holds 128
    # values per layer where rooflens counts one per head (96): 69 x 32 short.
    assert total == 2_779_931_837_184 - 69 * 32
    quant = default_quantization(spec)
    assert (quant.w_format, quant.w_bits) == ("mxfp4", 4)
    # Its ignore list's self_attn holds the KDA mixer too (Kimi Linear files it so).
    assert spec.checkpoint_quant.unquantized == ("attention", "mixer", "shared_experts", "mlp")
    result = rooflens.analyze("moonshotai/Kimi-K3", "gb200", prompt_len=2048, gen_len=8, tp=16)
    assert float(result.generation["tpot"]) > 0
    _serves_as_analyzed("moonshotai/Kimi-K3", "gb200", 512, tp=16)


# --- Gemma 4: global layers of their own shape, keys as values ----------------------------------

# Tiny gemma4_text: 6 layers, layers 3 and 6 global (1-based); window layers 2 KV heads of 16,
# global layers 1 KV head of 32 whose keys are the values.
TINY_GEMMA4 = {
    "model_type": "gemma4_text",
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "global_head_dim": 32,
    "num_global_key_value_heads": 1,
    "attention_k_eq_v": True,
    "vocab_size": 100,
    "hidden_size_per_layer_input": 0,
    "sliding_window": 8,
    "layer_types": (["sliding_attention"] * 2 + ["full_attention"]) * 2,
}

# Gemma 4 31B's language model: the fields of google/gemma-4-31B-it's text_config as a public
# engine asserts them (hidden 5376, 60 layers 5:1, 32 heads, 16 KV heads of 256 in window layers,
# 4 of 512 in global ones, keys as values, window 1024).
GEMMA4_31B_TEXT = {
    "model_type": "gemma4_text",
    "vocab_size": 262144,
    "hidden_size": 5376,
    "intermediate_size": 21504,
    "num_hidden_layers": 60,
    "num_attention_heads": 32,
    "num_key_value_heads": 16,
    "num_global_key_value_heads": 4,
    "head_dim": 256,
    "global_head_dim": 512,
    "sliding_window": 1024,
    "max_position_embeddings": 262144,
    "attention_k_eq_v": True,
    "hidden_size_per_layer_input": 0,
    "num_kv_shared_layers": 0,
    "enable_moe_block": False,
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 10,
}


# Gemma 4's MoE block (26B-A4B): 8 experts of 24, top-2, beside the dense MLP of 96.
TINY_GEMMA4_MOE = TINY_GEMMA4 | {
    "enable_moe_block": True,
    "num_experts": 8,
    "top_k_experts": 2,
    "moe_intermediate_size": 24,
}


def _transformers_gemma4_params(config: dict) -> int:
    import torch
    import transformers

    fields = {k: v for k, v in config.items() if k != "model_type"}
    with torch.device("meta"):
        model = transformers.Gemma4ForCausalLM(transformers.Gemma4TextConfig(**fields))
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("k_eq_v", [True, False])
@pytest.mark.parametrize("moe", [False, True])
def test_gemma4_parameters_equal_transformers(k_eq_v: bool, moe: bool) -> None:
    from rooflens.models import spec_from_config

    config = (TINY_GEMMA4_MOE if moe else TINY_GEMMA4) | {"attention_k_eq_v": k_eq_v}
    reference = _transformers_gemma4_params(config)
    assert build_graph(spec_from_config(config), AnalysisOptions()).params() == reference


def test_gemma4_moe_block_by_hand() -> None:
    from rooflens.core.operators import Precision, Step
    from rooflens.core.options import Quantization
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_GEMMA4_MOE)
    assert (spec.num_experts, spec.experts_per_token, spec.expert_intermediate_size) == (8, 2, 24)
    assert spec.moe_beside_mlp and spec.dense_layers == 0
    graph = build_graph(spec, AnalysisOptions())
    # Every layer holds both the dense MLP and the experts.
    assert graph.count(op(graph, "down_proj")) == graph.count(op(graph, "expert_down_proj")) == 6
    # The router and the experts' pre-norm read the residual stream, not the MLP's normed input.
    assert op(graph, "router_norm").inputs == op(graph, "moe_pre_norm").inputs == ("x2",)
    assert op(graph, "router").inputs == ("xr",) and op(graph, "expert_up_proj").inputs == ("xe",)
    assert op(graph, "moe_combine").inputs == ("dense_out_n", "routed_out_n")
    # Per layer: dense MLP 3 x 64 x 96; experts 8 x 3 x 64 x 24; router 64 x 8, its scale 64 and
    # per-expert scale 8; three more RMSNorms of 64.
    block = sum(graph.count(o) * o.params() for o in graph.operators if o.scope == "block")
    moe_part = 3 * 64 * 96 + 8 * 3 * 64 * 24 + 64 * 8 + 64 + 8 + 3 * 64
    dense = spec.model_copy(
        update={
            "num_experts": 0,
            "experts_per_token": 0,
            "expert_intermediate_size": None,
            "moe_beside_mlp": False,
        }
    )
    plain = build_graph(dense, AnalysisOptions())
    plain_block = sum(plain.count(o) * o.params() for o in plain.operators if o.scope == "block")
    assert block - plain_block == 6 * (moe_part - 3 * 64 * 96)
    # A decode step of 4 sequences: 4 tokens, each through 2 experts of 24 (gate, up, down).
    step = Step(batch=np.array(4.0), new_tokens=np.array(1.0), past=np.array(10.0))
    prec = Precision(Quantization())
    experts = sum(
        float(op(graph, name).cost(step, prec).ops)
        for name in ("expert_gate_proj", "expert_up_proj", "expert_down_proj")
    )
    assert experts == 4 * 2 * 3 * 2 * 64 * 24


def test_gemma4_26b_a4b_bundled_equals_transformers_and_serves() -> None:
    from rooflens.models.catalog import bundled_config

    spec = load_model("google/gemma-4-26B-A4B")
    assert (spec.num_experts, spec.experts_per_token, spec.window_layers) == (128, 8, 25)
    assert (spec.global_kv_heads, spec.global_head_dim, spec.moe_beside_mlp) == (2, 512, True)
    ours = build_graph(spec, AnalysisOptions()).params()
    text = bundled_config("google/gemma-4-26B-A4B")["text_config"]
    assert ours == _transformers_gemma4_params(text) == 25_233_141_760
    result = rooflens.analyze("google/gemma-4-26B-A4B", "h200-sxm", prompt_len=4096, gen_len=4)
    assert float(result.generation["ttft"]) > 0 and float(result.generation["tpot"]) > 0
    tp = rooflens.analyze("google/gemma-4-26B-A4B", "h200-sxm", prompt_len=4096, gen_len=4, tp=2)
    assert float(tp.generation["tpot"]) > 0
    _serves_as_analyzed("google/gemma-4-26B-A4B", "h200-sxm", 1024)


@pytest.mark.parametrize(
    ("model_id", "unquantized"),
    [
        ("nvidia/Gemma-4-31B-IT-NVFP4", ("attention",)),
        ("nvidia/Gemma-4-26B-A4B-NVFP4", ("mlp", "router", "attention")),
    ],
)
def test_gemma4_nvfp4_checkpoints(model_id: str, unquantized: tuple[str, ...]) -> None:
    spec = load_model(model_id)
    quant = default_quantization(spec)
    # NVFP4 weights; the KV recipe is config.json's kv_cache_scheme (FP8), not a
    # kv_cache_quant_algo.
    assert (quant.w_format, quant.w_bits, quant.a_bits, quant.kv_bits) == ("nvfp4", 4, 4, 8)
    assert spec.checkpoint_quant.unquantized == unquantized


def test_gemma4_global_layers_by_hand() -> None:
    from rooflens.core.graph import kv_spans
    from rooflens.core.memory import kv_cache_bytes
    from rooflens.core.options import Quantization
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_GEMMA4)
    assert (spec.window_layers, spec.global_head_dim, spec.global_kv_heads) == (4, 32, 1)
    graph = build_graph(spec, AnalysisOptions())
    q = [o for o in graph.operators if o.name == "q_proj"]
    assert sorted((o.layers, o.out_features) for o in q) == [(2, 4 * 32), (4, 4 * 16)]
    # Keys are the values in global layers: v_proj only in the 4 window layers.
    assert [o.layers for o in graph.operators if o.name == "v_proj"] == [4]
    # KV per token: window layers 2 x 2 heads x 16 (at most 8 tokens), global 2 x 1 x 32.
    tokens = np.array(20.0)
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), tokens, kv_spans(spec, AnalysisOptions())
    )
    assert float(kv) == 2 * (4 * 8 * 2 * 2 * 16 + 2 * 20 * 2 * 1 * 32)


def test_gemma4_31b_language_model() -> None:
    from rooflens.models import spec_from_config

    spec = spec_from_config({"model_type": "gemma4", "text_config": GEMMA4_31B_TEXT})
    # The model card's "30.7B dense" (its ~550M vision encoder is left out).
    assert round(build_graph(spec, AnalysisOptions()).params() / 1e8) == 307
    result = rooflens.analyze(spec, "h200-sxm", prompt_len=8192, gen_len=2)
    # 50 window layers keep 1024 tokens of 2 x 16 x 256, 10 global ones all 8193 of 2 x 4 x 512.
    expected = 2 * (50 * 1024 * 2 * 16 * 256 + 10 * 8193 * 2 * 4 * 512)
    assert float(result.memory["decode"].kv_cache) == pytest.approx(expected, rel=1e-12)
    _serves_as_analyzed(spec, "h200-sxm", 2048)


@pytest.mark.parametrize(
    ("field", "value"),
    [("hidden_size_per_layer_input", 256), ("num_kv_shared_layers", 2)],
)
def test_gemma4_mechanisms_not_priced_are_refused(field: str, value: object) -> None:
    from rooflens.models import spec_from_config

    with pytest.raises(ModelConfigError, match=field):
        spec_from_config(TINY_GEMMA4 | {field: value})


# --- DeepSeek-V4: window + compressed KV, grouped output, hyper-connections ----------------------

# A tiny deepseek_v4: 4 layers (window only, CSA of ratio 4, HCA of ratio 16, CSA),
# 4 heads of 32 over one shared KV head, window 8, indexer of 2 heads of 8 keeping the top 3
# entries, output in 2 groups of rank 8, 2 residual streams, 4 experts of 16 (top 2) and a
# shared one, the first layer hash-routed.
TINY_V4 = {
    "model_type": "deepseek_v4",
    "vocab_size": 100,
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "q_lora_rank": 16,
    "qk_rope_head_dim": 8,
    "o_groups": 2,
    "o_lora_rank": 8,
    "index_n_heads": 2,
    "index_head_dim": 8,
    "index_topk": 3,
    "sliding_window": 8,
    "layer_types": [
        "sliding_attention",
        "compressed_sparse_attention",
        "heavily_compressed_attention",
        "compressed_sparse_attention",
    ],
    "compress_rates": {"compressed_sparse_attention": 4, "heavily_compressed_attention": 16},
    "hc_mult": 2,
    "hc_sinkhorn_iters": 3,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "n_shared_experts": 1,
    "moe_intermediate_size": 16,
    "num_hash_layers": 1,
    "num_nextn_predict_layers": 1,
    "tie_word_embeddings": False,
}


def _transformers_v4_params(config: dict) -> int:
    import torch
    import transformers

    fields = {k: v for k, v in config.items() if k not in ("model_type", "quantization_config")}
    with torch.device("meta"):
        model = transformers.DeepseekV4ForCausalLM(transformers.DeepseekV4Config(**fields))
    return sum(p.numel() for p in model.parameters())


def test_tiny_deepseek_v4_parameters_by_hand() -> None:
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_V4)
    assert (spec.csa_layers, spec.csa_ratio, spec.hca_layers, spec.hca_ratio) == (2, 4, 1, 16)
    h, heads, d = 64, 4, 32
    attention = (
        h * 16 + 16 + 16 * heads * d  # q_a, its norm, q_b
        + h * d + d  # kv_proj (one head, key = value), kv_norm
        + heads  # sinks
        + heads * d * 8 + 2 * 8 * h  # o_a (2 groups of 64 -> 8), o_b (16 -> 64)
    )  # fmt: skip
    csa = (
        2 * h * 2 * d + 4 * 2 * d + d  # compressor kv and gate (two series), position bias, norm
        + 16 * 2 * 8  # indexer q_b
        + 2 * h * 2 * 8 + 4 * 2 * 8 + 8  # indexer compressor
        + h * 2  # indexer weights
    )  # fmt: skip
    hca = 2 * h * d + 16 * d + d
    hyper = 2 * (8 * 2 * h + 8 + 3)  # two per layer: fn (2+2)*2 x 2h, base, 3 scales
    moe = h * 4 + 4 * 3 * h * 16 + 3 * h * 16  # router, experts, shared expert
    layer = attention + hyper + moe + 2 * h  # and two RMSNorms
    head = 2 * 2 * h + 2 + 1  # hc_head: fn 2 x 2h, base 2, scale 1
    total = 2 * 100 * h + 4 * layer + 2 * csa + hca + head + h
    assert (
        build_graph(spec, AnalysisOptions()).params() == total == _transformers_v4_params(TINY_V4)
    )


def test_deepseek_v4_attention_by_hand() -> None:
    from rooflens.core.compressed import CompressedAttention, CompressedIndexerScores
    from rooflens.core.operators import Precision, Step
    from rooflens.core.options import Quantization

    prec = Precision(Quantization())
    attn = CompressedAttention(
        "a", "block", ("q", "kv"), "o", num_heads=4, head_dim=32, window=8, ratio=4, top_k=3
    )
    # Decode at position 40: the 8 window keys and min(40 / 4, 3) = 3 selected entries.
    decode = attn.cost(
        Step(batch=np.array(2.0), new_tokens=np.array(1.0), past=np.array(39.0)), prec
    )
    assert float(decode.ops) == 2 * 4 * 11 * (4 * 32 + 5) + 4 * 2 * 4
    assert float(decode.load_kv) == 2 * 11 * 32 * 2
    # Prefill of 8 tokens: window pairs 1 + ... + 8 = 36, entries j / 4 summed = 9, the scores
    # of the 4 heads in one block of 64 (the sink's of its own 4); the cache holds 8 tokens and
    # 2 entries, each read once.
    prefill = attn.cost(
        Step(batch=np.array(1.0), new_tokens=np.array(8.0), past=np.array(0.0)), prec
    )
    assert float(prefill.ops) == 64 * 45 * (4 * 32 + 5) + 4 * 8 * 4
    # A step verifying 4 drafted tokens runs the decode kernel, its 4 heads unpadded.
    from rooflens.core.graph import Graph
    from rooflens.core.speculative import verification_graph

    (verify,) = verification_graph(Graph(operators=(attn,), num_layers=1), 4).operators
    chunk = Step(batch=np.array(1.0), new_tokens=np.array(4.0), past=np.array(36.0))
    pairs = 4 * 8 + (min(37 / 4, 3) + min(38 / 4, 3) + min(39 / 4, 3) + min(40 / 4, 3))
    assert float(verify.cost(chunk, prec).ops) == pytest.approx(4 * pairs * 133 + 4 * 4 * 4)
    assert float(attn.cost(chunk, prec).ops) == pytest.approx(64 * pairs * 133 + 4 * 4 * 4)
    assert float(prefill.load_kv) == 10 * 32 * 2
    # HCA: every entry attended: at position 40 with ratio 16, 2.5 entries.
    hca = CompressedAttention(
        "a", "block", ("q",), "o", num_heads=4, head_dim=32, window=8, ratio=16
    )
    step = Step(batch=np.array(1.0), new_tokens=np.array(1.0), past=np.array(39.0))
    assert float(hca.cost(step, prec).load_kv) == (8 + 2.5) * 32 * 2
    # The indexer scores all 10 entries (2 heads of 8) at position 40.
    scores = CompressedIndexerScores("i", "block", ("iq",), "t", num_heads=2, head_dim=8, ratio=4)
    assert float(scores.cost(step, prec).ops) == 10 * 2 * (2 * 8 + 2)


def test_deepseek_v4_hyper_connection_by_hand() -> None:
    from rooflens.core.compressed import HyperConnection
    from rooflens.core.operators import Precision, Step
    from rooflens.core.options import Quantization

    prec = Precision(Quantization())
    step = Step(batch=np.array(3.0), new_tokens=np.array(1.0), past=np.array(5.0))
    post = HyperConnection("p", "block", ("x", "o"), "y", width=64, streams=4, stage="post")
    cost = post.cost(step, prec)
    # post (x) output 4h, comb^T streams 2 x 16 h, the sum 4h; reads 4 streams and the output,
    # writes 4 streams.
    assert float(cost.ops) == 3 * 64 * (2 * 16 + 8)
    assert float(cost.store_act) == 3 * 4 * 64 * 2
    pre = HyperConnection("p", "block", ("x",), "xc", width=64, streams=4, sinkhorn_iters=20)
    # Norm 4 x 256, projection 2 x 256 x 24, 6 x 24, Sinkhorn 4 x 20 x 16, collapse 2 x 256.
    assert float(pre.cost(step, prec).ops) == 3 * (4 * 256 + 2 * 256 * 24 + 144 + 1280 + 512)
    assert pre.params() == 24 * 256 + 24 + 3


def test_deepseek_v4_kv_cache_by_hand() -> None:
    from rooflens.core.graph import kv_spans
    from rooflens.core.memory import kv_cache_bytes
    from rooflens.core.options import Quantization
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_V4)
    n = np.array(64.0)
    kv = kv_cache_bytes(spec, Quantization(), np.array(1.0), n, kv_spans(spec, AnalysisOptions()))
    # 4 layers x 8 window tokens; 2 CSA layers x 16 entries of 32 and their index keys of 8;
    # 1 HCA layer x 4 entries of 32; 2 bytes each.
    assert float(kv) == 2 * (4 * 8 * 32 + 2 * 16 * (32 + 8) + 4 * 32)


def test_deepseek_v4_pro_kv_cache_at_1m_tokens_is_the_published_one() -> None:
    from rooflens.core.graph import kv_spans
    from rooflens.core.memory import kv_cache_bytes
    from rooflens.core.options import Quantization

    spec = load_model("deepseek-ai/DeepSeek-V4-Pro")
    tokens = np.array(2.0**20)
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), tokens, kv_spans(spec, AnalysisOptions())
    )
    # vLLM's 9.62 GiB per 1M-token sequence in bf16 (its DeepSeek V4 post): 30 CSA layers of
    # 262,144 entries (512 + 128 index), 31 HCA layers of 8192, 61 windows of 128.
    assert float(kv) == 2 * (30 * 262_144 * 640 + 31 * 8192 * 512 + 61 * 128 * 512)
    assert round(float(kv) / 2**30, 2) == 9.62


def test_deepseek_v4_generation_equals_sum_of_decode_steps(toy_device) -> None:
    from rooflens.core import analyze
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_V4)
    # Decode from 4 to 40 crosses the window (8) and the top-k cap (3 x 4 = 12).
    b, s, g = 2, 4, 37
    result = analyze(spec, toy_device, batch=b, prompt_len=s, gen_len=g)
    steps = analyze(spec, toy_device, batch=b, prompt_len=np.arange(s, s + g - 1))
    decode = steps.totals()["decode"]
    assert result.generation["decode_time"] == pytest.approx(decode["time"].sum(), rel=1e-9)


@pytest.mark.parametrize(
    ("model_id", "params"),
    [
        ("deepseek-ai/DeepSeek-V4-Flash", 284_332_230_231),
        ("deepseek-ai/DeepSeek-V4-Pro", 1_572_997_179_491),
    ],
)
def test_deepseek_v4_bundled_equals_transformers(model_id: str, params: int) -> None:
    from rooflens.models.catalog import bundled_config

    spec = load_model(model_id)
    assert build_graph(spec, AnalysisOptions()).params() == params
    assert _transformers_v4_params(bundled_config(model_id)) == params


def test_deepseek_v4_layer_kinds_from_compress_ratios() -> None:
    flash, pro = (
        load_model("deepseek-ai/DeepSeek-V4-Flash"),
        load_model("deepseek-ai/DeepSeek-V4-Pro"),
    )
    # Flash: two window-only layers, then CSA and HCA alternating (21 and 20); Pro: 30 and 31.
    assert (flash.csa_layers, flash.hca_layers, flash.num_layers) == (21, 20, 43)
    assert (pro.csa_layers, pro.hca_layers, pro.num_layers) == (30, 31, 61)
    assert (flash.index_topk, pro.index_topk, flash.hc_streams, flash.mtp_layers) == (
        512,
        1024,
        4,
        1,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_key_value_heads", 2),
        ("layer_types", ["sliding_attention"] * 3 + ["full_attention"]),
    ],
)
def test_deepseek_v4_unsupported_fields_are_refused(field: str, value: object) -> None:
    from rooflens.models import spec_from_config

    with pytest.raises(ModelConfigError, match=field):
        spec_from_config(TINY_V4 | {field: value})


def test_deepseek_v4_compress_ratios_outside_the_rates_are_refused() -> None:
    from rooflens.models import spec_from_config

    config = {k: v for k, v in TINY_V4.items() if k != "layer_types"}
    with pytest.raises(ModelConfigError, match="compress_ratios"):
        spec_from_config(config | {"compress_ratios": [0, 4, 8, 4, 0]})
    # A window-only MTP layer (ratio 0 past the last layer) is read.
    spec = spec_from_config(config | {"compress_ratios": [0, 4, 16, 4, 0]})
    assert (spec.csa_layers, spec.hca_layers) == (2, 1)


def test_deepseek_v4_flash_generates_and_serves() -> None:
    result = rooflens.analyze(
        "deepseek-ai/DeepSeek-V4-Flash", "h200-sxm", prompt_len=8192, gen_len=8, tp=8
    )
    assert float(result.generation["ttft"]) > 0 and float(result.generation["tpot"]) > 0
    _serves_as_analyzed("deepseek-ai/DeepSeek-V4-Flash", "h200-sxm", 2048, tp=4)


# --- MiniMax-M3: MiniMax Sparse Attention, dense then MoE layers ---------------------------------

# A tiny minimax_m3: 4 layers (the first dense, the first two full attention), 4 heads of 16 over
# 2 KV heads, an indexer of 2 heads of 8 keeping 2 blocks of 4 keys, 4 experts of 16 (top 2) and
# a shared expert of 16, a dense MLP of 32.
TINY_M3 = {
    "model_type": "minimax_m3",
    "vocab_size": 100,
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "intermediate_size": 16,
    "moe_intermediate_size": 16,
    "shared_intermediate_size": 16,
    "dense_intermediate_size": 32,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "n_shared_experts": 1,
    "moe_layer_freq": [0, 1, 1, 1],
    "hidden_act": "swigluoai",
    "use_qk_norm": True,
    "qk_norm_type": "per_head",
    "use_routing_bias": True,
    "num_nextn_predict_layers": 1,
    "tie_word_embeddings": False,
    "sparse_attention_config": {
        "use_sparse_attention": True,
        "sparse_attention_freq": [0, 0, 1, 1],
        "sparse_block_size": 4,
        "sparse_topk_blocks": 2,
        "sparse_num_index_heads": 2,
        "sparse_index_dim": 8,
        "sparse_local_block": 1,
        "sparse_init_block": 0,
    },
}


def _transformers_m3_params(config: dict) -> int:
    import torch
    from transformers.models.minimax_m3_vl import configuration_minimax_m3_vl as conf
    from transformers.models.minimax_m3_vl import modeling_minimax_m3_vl as modeling

    fields = {k: v for k, v in config.items() if k not in ("model_type", "architectures")}
    with torch.device("meta"):
        model = modeling.MiniMaxM3VLForCausalLM(conf.MiniMaxM3VLTextConfig(**fields))
    return sum(p.numel() for p in model.parameters())


def test_tiny_minimax_m3_parameters_by_hand() -> None:
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_M3)
    assert (spec.sparse_layers, spec.sparse_block, spec.sparse_blocks, spec.dense_layers) == (
        2,
        4,
        2,
        1,
    )
    h = 64
    attention = h * 64 + 2 * h * 32 + 64 * h + 2 * 16  # q, k, v, o, per-head q/k norms
    indexer = h * 16 + h * 8 + 2 * 8  # q (2 heads of 8), k (one of 8), their norms
    dense = 3 * h * 32
    moe = h * 4 + 4 + 4 * 3 * h * 16 + 3 * h * 16  # router and its bias, experts, shared
    total = 2 * 100 * h + 4 * (attention + 2 * h) + 2 * indexer + dense + 3 * moe + h
    ours = build_graph(spec, AnalysisOptions()).params()
    # transformers holds the score-correction bias as a buffer, the checkpoint as a tensor.
    assert ours == total == _transformers_m3_params(TINY_M3) + 3 * 4


def test_minimax_m3_sparse_attention_by_hand() -> None:
    from rooflens.core.block_sparse import BlockIndexerScores
    from rooflens.core.graph import kv_spans
    from rooflens.core.memory import kv_cache_bytes
    from rooflens.core.operators import Precision, Step
    from rooflens.core.options import Quantization
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_M3)
    graph = build_graph(spec, AnalysisOptions())
    scores = [o for o in graph.operators if o.name == "qk_matmul"]
    # Two full layers see every key, two sparse ones at most 2 blocks of 4.
    assert sorted((o.layers, o.span or 0) for o in scores) == [(2, 0), (2, 8)]
    prec = Precision(Quantization())
    step = Step(batch=np.array(1.0), new_tokens=np.array(1.0), past=np.array(19.0))
    sparse = next(o for o in scores if o.span == 8)
    # Decode at position 20: 4 heads x 8 selected keys x 2 x 16; K read per KV head: 2 x 8 x 16.
    assert float(sparse.cost(step, prec).ops) == 4 * 8 * 2 * 16
    assert float(sparse.cost(step, prec).load_kv) == 2 * 8 * 16 * 2
    # The indexer scores all 20 keys per head (2 x 8 + 1 for the block max).
    indexer = BlockIndexerScores(
        "i", "block", ("q", "k"), "b", num_heads=2, head_dim=8, block=4, top_blocks=2
    )
    cost = indexer.cost(step, prec)
    assert float(cost.ops) == 20 * 2 * (2 * 8 + 1)
    assert float(cost.load_kv) == 20 * 8 * 2
    # The cache keeps every key: K and V of 2 heads of 16 in 4 layers, 8-wide index keys in 2.
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), np.array(50.0), kv_spans(spec, AnalysisOptions())
    )
    assert float(kv) == pytest.approx(50 * 2 * (4 * 2 * 2 * 16 + 2 * 8), rel=1e-12)


def test_minimax_m3_generation_equals_sum_of_decode_steps(toy_device) -> None:
    from rooflens.core import analyze
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_M3)
    # Decode from 3 to 30 crosses the sparse layers' cap of 8 keys.
    b, s, g = 2, 3, 28
    result = analyze(spec, toy_device, batch=b, prompt_len=s, gen_len=g)
    steps = analyze(spec, toy_device, batch=b, prompt_len=np.arange(s, s + g - 1))
    decode = steps.totals()["decode"]
    assert result.generation["decode_time"] == pytest.approx(decode["time"].sum(), rel=1e-9)


def test_minimax_m3_bundled_generates_and_serves() -> None:
    from rooflens.models.catalog import bundled_config

    spec = load_model("MiniMaxAI/MiniMax-M3")
    assert (spec.sparse_layers, spec.dense_layers, spec.num_experts, spec.mtp_layers) == (
        57,
        3,
        128,
        1,
    )
    assert spec.activation == "swiglu_oai" and spec.qk_norm and not spec.qk_norm_whole
    ours = build_graph(spec, AnalysisOptions()).params()
    reference = _transformers_m3_params(bundled_config("MiniMaxAI/MiniMax-M3"))
    assert ours == reference + 57 * 128 == 426_174_572_928
    sparse = rooflens.analyze(spec, "h200-sxm", prompt_len=65536, gen_len=4, tp=8)
    dense = spec.model_copy(update={"sparse_layers": 0})
    full = rooflens.analyze(dense, "h200-sxm", prompt_len=65536, gen_len=4, tp=8)
    # At 64k tokens the sparse layers' attention reads 2048 keys per query, not all of them.
    assert sparse.generation["ttft"] < full.generation["ttft"]
    _serves_as_analyzed("MiniMaxAI/MiniMax-M3", "h200-sxm", 2048, tp=8)


def test_minimax_m3_unsupported_sparse_fields_are_refused() -> None:
    from rooflens.models import spec_from_config

    config = TINY_M3 | {
        "sparse_attention_config": TINY_M3["sparse_attention_config"] | {"sparse_init_block": 1}
    }
    with pytest.raises(ModelConfigError, match="sparse_init_block"):
        spec_from_config(config)
    with pytest.raises(ModelConfigError, match="moe_layer_freq"):
        spec_from_config(TINY_M3 | {"moe_layer_freq": [0, 1, 2, 1]})


def test_deepseek_v4_routed_experts_are_stored_in_fp4() -> None:
    """DeepSeek-V4 keeps its routed experts in FP4 (E2M1, an E8M0 scale per 32 values) inside
    an FP8 checkpoint: the experts' weights weigh 4.25 bits each, everything else as stored."""
    import rooflens
    from rooflens.core.graph import build_graph
    from rooflens.core.operators import ExpertLinear
    from rooflens.models import load_model

    spec = load_model("deepseek-ai/DeepSeek-V4-Flash")
    assert spec.checkpoint_quant.experts.w_bits == 4
    assert spec.checkpoint_quant.experts.w_format == "mxfp4"
    fp4 = rooflens.analyze(spec, "b200", tp=8, batch=1, prompt_len=1024)
    assert fp4.options.expert_quantization == spec.checkpoint_quant.experts
    assert fp4.to_dict()["inputs"]["expert_weights"] == {"w_bits": 4, "w_format": "mxfp4"}
    as_fp8 = spec.model_copy(
        update={"checkpoint_quant": spec.checkpoint_quant.model_copy(update={"modules": ()})}
    )
    fp8 = rooflens.analyze(as_fp8, "b200", tp=8, batch=1, prompt_len=1024)
    # By hand: every routed-expert matrix moves from the checkpoint's FP8 bits per weight to
    # 4 + 8/32, on this device's share of the experts.
    graph = build_graph(as_fp8, fp8.options, fp8.device)
    quant = fp8.options.quantization
    saved = sum(
        graph.count(op) * op.num_experts * op.in_features * op.out_features
        * (quant.weight_bits_per_param(op.in_features) - 4.25) / 8
        for op in graph.operators
        if isinstance(op, ExpertLinear)
    )  # fmt: skip
    assert saved > 0
    weights_fp8 = float(fp8.memory["decode"].weights)
    weights_fp4 = float(fp4.memory["decode"].weights)
    assert weights_fp8 - weights_fp4 == pytest.approx(saved, rel=1e-9)
    # Weights of another width or format replace them whole, experts included (NVFP4
    # here) ...
    given = rooflens.analyze(spec, "b200", tp=8, batch=1, prompt_len=1024, w_bits=4, a_bits=4,
                             w_format="nvfp4")  # fmt: skip
    assert given.options.expert_quantization is None
    # ... while the stored FP8 restated is the checkpoint as stored, FP4 experts and all.
    restated = rooflens.analyze(spec, "b200", tp=8, batch=1, prompt_len=1024, w_bits=8,
                                a_bits=8, w_format="fp")  # fmt: skip
    assert restated.options.expert_quantization == spec.checkpoint_quant.experts


def test_deepseek_v4_experts_as_the_export_stores_them() -> None:
    """DeepSeek's release stores the routed experts in MXFP4; NVIDIA's NVFP4 export says
    moe_quant_algo NVFP4 beside the release's expert_dtype, and was read as MXFP4."""
    import json
    from pathlib import Path

    import rooflens
    from rooflens.models import spec_from_config

    path = Path(rooflens.__file__).parent / "models/configs/deepseek-ai--DeepSeek-V4-Flash.json"
    config = json.loads(path.read_text())
    assert load_model("deepseek-ai/DeepSeek-V4-Flash").checkpoint_quant.experts.w_format == "mxfp4"
    export = {**config, "quantization_config": {**config["quantization_config"],
                                                "moe_quant_algo": "NVFP4"}}  # fmt: skip
    experts = spec_from_config(export).checkpoint_quant.experts
    assert (experts.w_format, experts.w_bits, experts.a_bits) == ("nvfp4", 4, 4)
    assert experts.weight_bits_per_param(4096) == 4.5  # 16 values per FP8 scale


def test_gemma4_global_values_are_cached_beside_the_keys() -> None:
    """Keys-as-values layers have no v_proj, but their values are the key projection normed
    without a gain and without rotary positions (v_norm): a tensor of their own, which the
    cache holds (memory counted it) and the decode step must write (it wrote keys only)."""
    from rooflens.models import spec_from_config

    spec = spec_from_config(TINY_GEMMA4)
    result = rooflens.analyze(spec, "h200-sxm", batch=1, prompt_len=16, gen_len=None)
    rows = result.operators()
    decode = rows[rows.stage == "decode"]
    written = float((decode.store_kv * decode["count"]).sum())
    # 4 window layers of 2 x 2 heads x 16, 2 global ones of 2 x 1 head x 32, 16-bit.
    assert written == 2 * (4 * 2 * 2 * 16 + 2 * 2 * 1 * 32)
    (v_norm,) = [op for op in build_graph(spec, AnalysisOptions()).operators if op.name == "v_norm"]
    assert (v_norm.layers, v_norm.params()) == (2, 0)


@pytest.mark.parametrize(
    ("model", "active"),
    [
        # Routed experts counted k of E, everything else whole (cards: DeepSeek-V3 "37B
        # activated", Qwen3-30B-A3B 3.3B, Mixtral 12.9B, Qwen3-235B-A22B 22B, Llama 4 Scout 17B).
        ("deepseek-ai/DeepSeek-V3", 37_552_297_472),
        ("Qwen/Qwen3-30B-A3B", 3_353_032_704),
        ("mistralai/Mixtral-8x7B-v0.1", 12_879_925_248),
        ("meta-llama/Llama-4-Scout-17B-16E", 17_172_894_720),
        # gpt-oss-120b's card counts 5.13 G without its output head's 0.58 G.
        ("openai/gpt-oss-120b", 5_711_982_912),
    ],
)
def test_active_parameters_of_a_mixture_of_experts(model: str, active: int) -> None:
    result = rooflens.analyze(model, "h200-sxm", tp=8)
    assert result.active_params == active
    spec = rooflens.load_model(model)
    # By hand: the routed experts' parameters less their (1 - k / E) share unread.
    graph = build_graph(spec, AnalysisOptions())
    routed = sum(graph.count(op) * op.params() for op in graph.operators
                 if isinstance(op, ExpertLinear))  # fmt: skip
    share = spec.experts_per_token / spec.num_experts
    assert active == pytest.approx(result.params - routed * (1 - share), abs=1)
    assert f"({rooflens.formats.si(active)} active)" in " ".join(
        rooflens.formats.analysis_facts(result)
    )
    dense = rooflens.analyze("meta-llama/Llama-3.1-8B", "h200-sxm")
    assert dense.active_params == dense.params
    assert "active" not in " ".join(rooflens.formats.analysis_facts(dense))


def test_qwen3_5_reads_its_vision_tower() -> None:
    """Qwen3.5's checkpoints carry a 27-block ViT (1,152 wide, 16 heads, MLP 4,304, patches of
    16 merged 2 x 2 into the text width): Qwen3-VL's tower without DeepStack mergers. Its
    parameters by hand: per block 4 x 1,152^2 + 4 x 1,152 (attention with biases) + 2 x 1,152
    x 4,304 + 4,304 + 1,152 (MLP) + 4 x 1,152 (two LayerNorms); the patch embedding 3 x 2 x
    16^2 x 1,152 + 1,152; 2,304 position rows of 1,152; the merger's LayerNorm (2 x 1,152),
    4,608^2 + 4,608 and 4,608 x 4,096 + 4,096. An image of 1,024 pixels a side is 4,096
    patches, 1,024 tokens."""
    from rooflens.core.vision import vision_params

    result = rooflens.analyze("Qwen/Qwen3.5-9B", "h200-sxm", images=1, prompt_len=1024)
    vision = result.model.vision
    h, mlp = 1152, 4304
    block = 4 * h * h + 4 * h + 2 * h * mlp + mlp + h + 4 * h
    merged = 4 * h
    by_hand = (
        27 * block
        + 3 * 2 * 16 * 16 * h + h
        + 2304 * h
        + 2 * h + merged * merged + merged + merged * 4096 + 4096
    )  # fmt: skip
    assert vision_params(result.model) == by_hand
    assert (vision.num_layers, vision.patches, vision.tokens_per_image) == (27, 4096, 1024)
    assert result.prompt_len.item() == 1024 + 1024  # the prefill reads the image's tokens too
    assert float(result.steps["vision"].step_time()) > 0
