"""NVIDIA's ModelOpt exports read as their files say (tests/data/modelopt: config.json and
hf_quant_config.json as published): the modules left at 16 bits, layer by layer, and the
weights that makes. Weight bytes are hand-computed: 2 bytes per 16-bit parameter, 4.5 bits
(4 + one E4M3 scale per 16) per NVFP4 one."""

from __future__ import annotations

from pathlib import Path

import pytest

import rooflens
from rooflens.core import AnalysisOptions
from rooflens.core.errors import ModelConfigError
from rooflens.core.graph import build_graph
from rooflens.core.mtp import mtp_params
from rooflens.core.options import Quantization
from rooflens.core.pricing import Placement
from rooflens.models import load_model, spec_from_config
from rooflens.models.catalog import read_config_file
from rooflens.models.quant import read_quantization_config
from rooflens.settings import Settings

DATA = Path(__file__).parent / "data" / "modelopt"


def _weights(name: str) -> int:
    result = rooflens.analyze(str(DATA / name), "b200", prompt_len=16, gen_len=2)
    return int(result.memory["decode"].weights)


def _params(name: str) -> tuple[int, int]:
    """Total parameters, and those a token uses (the routed experts at top-k of E)."""
    spec = load_model(DATA / name)
    graph = build_graph(spec, AnalysisOptions())
    total = graph.params()
    experts = sum(
        graph.count(op) * op.params() for op in graph.operators if op.name.startswith("expert_")
    )
    share = spec.experts_per_token / spec.num_experts if spec.is_moe else 1
    return total, round(total - experts + experts * share)


def _bytes(params: int, nvfp4: int) -> float:
    return 2 * (params - nvfp4) + nvfp4 * 4.5 / 8


def test_glm_5_1_nvfp4_keeps_its_dense_layers_whole_at_16_bits() -> None:
    """exclude_modules: model.layers.0*, model.layers.1.*, model.layers.2.* (the three dense
    layers: first_k_dense_replace 3), then self_attn* and mlp.shared_experts* of layers 3-77
    and model.layers.78* (the MTP layer): only the routed experts are NVFP4."""
    name = "nvidia--GLM-5.1-NVFP4"
    quant = load_model(DATA / name).checkpoint_quant
    assert quant.unquantized == ("attention", "indexer", "mlp", "shared_experts")
    assert quant.partial == ()
    total, active = _params(name)
    # NVIDIA's model card: "754B in total and 40B activated"; the checkpoint holds the MTP
    # layer beside the 78 decoder layers.
    assert total == 743_911_218_432
    assert total + mtp_params(load_model(DATA / name)) == 753_864_139_008
    experts = 75 * 256 * 3 * 6144 * 2048
    # 8 of 256 experts a token; the card's 40B leaves out the embedding and the head.
    assert active == total - experts + experts * 8 // 256 == 41_784_728_832
    assert active - 2 * 154880 * 6144 == 39_881_563_392
    assert _weights(name) == _bytes(total, experts) == 445_957_323_264


def test_kimi_k2_6_nvfp4_keeps_its_dense_layer_whole_at_16_bits() -> None:
    """ignore: language_model.model.layers.0* (first_k_dense_replace 1), then self_attn* and
    mlp.shared_experts* of layers 1-60: the routed experts alone are NVFP4."""
    name = "nvidia--Kimi-K2.6-NVFP4"
    quant = load_model(DATA / name).checkpoint_quant
    assert quant.unquantized == ("attention", "mlp", "shared_experts")
    total, active = _params(name)
    # Kimi K2's architecture: 1,026,408,232,448 (docs/model.md); "1T total, 32B active".
    assert total == 1_026_408_232_448
    # 11,722,208,768 outside the routed experts + 8 of 384 experts in 60 layers.
    assert active == 11_722_208_768 + 60 * 8 * 3 * 7168 * 2048 == 32_861_500_928
    experts = 60 * 384 * 3 * 7168 * 2048
    assert _weights(name) == _bytes(total, experts) == 594_205_305_856


def test_nemotron_3_nano_nvfp4_keeps_6_of_its_23_mamba_layers_at_16_bits() -> None:
    """exclude_modules names backbone.layers.N.mixer.{q,k,v,o}_proj of the 6 attention layers
    and mixer.in_proj / mixer.out_proj of the 6 Mamba layers before them (4, 11, 18, 25, 32,
    41): NVIDIA's model card, "keeps the attention layers and the Mamba layers that feed them
    in BF16". The other 17 Mamba layers, the experts and the shared experts are NVFP4."""
    name = "nvidia--NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4"
    quant = load_model(DATA / name).checkpoint_quant
    assert quant.unquantized == ("attention",)
    assert quant.partial == (("mixer_in_proj", 6, 23), ("mixer_out_proj", 6, 23))
    total, active = _params(name)
    # The BF16 checkpoint's exact count (tests/data/published_params.toml); the card's "31.6B
    # total", "3.5B active" (3.2B without the embedding and the head).
    assert total == 31_577_940_288
    assert active == 3_580_076_352
    mamba = 17 * (2688 * (2 * 4096 + 2 * 1024 + 64) + 4096 * 2688)
    experts = 23 * 128 * 2 * 2688 * 1856
    shared = 23 * 2 * 2688 * 3712
    nvfp4 = mamba + experts + shared
    assert _weights(name) == _bytes(total, nvfp4) == 19_323_901_056
    # Hugging Face counts the stored elements (two FP4 values a byte, one scale per 16): 18.2B,
    # as the repository's page gives it (llmrun.dev); the 16-bit Mamba projections of all 23
    # layers would make it 18.5B.
    assert total - nvfp4 + nvfp4 * 9 // 16 == 18_237_772_608


def test_a_layer_range_of_16_bit_operators_is_priced_in_two_rows() -> None:
    spec = load_model(DATA / "nvidia--NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4")
    options = Settings().analysis_options(model=spec)
    rows = [op for op in build_graph(spec, options).operators if op.name == "mixer_in_proj"]
    assert [(op.layers, op.quantized) for op in rows] == [(17, True), (6, False)]


# --- Nemotron 3 Super: latent MoE -------------------------------------------------------------


def test_nemotron_3_super_counts_its_latent_moe() -> None:
    """40 latent MoE layers of 512 experts (up 1024 -> 2688, down back, relu2) between
    fc1_latent_proj (4096 -> 1024) and fc2_latent_proj, with a shared expert of 5376 on the
    hidden state; 40 Mamba2 and 8 attention layers (hybrid_override_pattern)."""
    name = "nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8"
    spec = load_model(DATA / name)
    assert (spec.expert_latent_size, spec.expert_latent_norm) == (1024, False)
    assert (spec.mixer_layers, spec.attention_layers, spec.mlp_layers) == (40, 8, 40)
    total, active = _params(name)
    # llama.cpp's model_n_params of the converted checkpoint; NVIDIA's "120B total, 12B
    # active" counts neither the embedding nor the head.
    assert total == 120_668_707_840
    assert active - 2 * 131072 * 4096 == 11_696_495_616


def test_nemotron_3_super_exports_quantize_every_block_linear() -> None:
    """Both recipes, as aiconfigurator keeps them, exclude nothing: every block linear,
    the latent projections included, is FP8 (8 bits, one scale per tensor) or NVFP4."""
    experts = 40 * 512 * 2 * 1024 * 2688
    shared = 40 * 2 * 4096 * 5376
    latent = 40 * 2 * 4096 * 1024
    mamba = 40 * (4096 * (2 * 8192 + 2 * 1024 + 128) + 8192 * 4096)
    attention = 8 * 2 * (4096 * 4096 + 4096 * 256)
    linears = experts + shared + latent + mamba + attention
    assert linears == 119_508_303_872
    total = 120_668_707_840
    fp8 = "nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8"
    nvfp4 = "nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4"
    assert _weights(fp8) == 2 * (total - linears) + linears == 121_829_111_808
    assert _weights(nvfp4) == _bytes(total, linears) == 69_544_228_864


# --- MIXED_PRECISION: a recipe per module ------------------------------------------------------

FP8 = Quantization(w_bits=8, a_bits=8, kv_bits=8, w_format="fp", w_scale="tensor", a_scale="static")
W4A16 = Quantization(w_bits=4, a_bits=16, kv_bits=8, w_format="nvfp4")


def test_qwen3_6_27b_stores_each_module_as_quantized_layers_says() -> None:
    """quantized_layers: FP8 for self_attn.{q,k,v,o}_proj (16 layers) and linear_attn's
    in_proj_qkv, in_proj_z and out_proj (48 layers), W4A16_NVFP4 for the MLPs and lm_head;
    in_proj_a and in_proj_b are not listed, so they stay BF16 (vLLM: "Layer not in
    quantized_layers - leave unquantized")."""
    name = "nvidia--Qwen3.6-27B-NVFP4"
    quant = load_model(DATA / name).checkpoint_quant
    assert quant.quantization == W4A16  # the MLPs, most of the weights
    assert quant.modules == (
        ("attention", FP8),
        ("mixer_in_proj", FP8),
        ("mixer_out_proj", FP8),
        ("lm_head", W4A16),
    )
    assert quant.unquantized == () and quant.partial == (("mixer_ba_proj", 48, 48),)
    total, _ = _params(name)
    assert total == 26_895_998_464
    # Attention: q_proj holds the output gate (2 x 5120 x 6144), k and v 5120 x 1024,
    # o 6144 x 5120; Gated DeltaNet: q, k, v, z 5120 x 16384, out 6144 x 5120.
    fp8 = 16 * (2 * 5120 * 6144 + 2 * 5120 * 1024 + 6144 * 5120) + 48 * (5120 * 16384 + 6144 * 5120)
    nvfp4 = 64 * 3 * 5120 * 17408 + 5120 * 248320
    assert (fp8, nvfp4) == (7_214_202_880, 18_384_158_720)
    weights = 2 * (total - fp8 - nvfp4) + fp8 + nvfp4 * 9 / 16
    assert _weights(name) == weights == 20_150_565_888


def test_mixed_precision_modules_run_at_their_own_width() -> None:
    """FP8 attention computes in FP8 on 8-bit inputs; the W4A16 MLP dequantizes to BF16."""
    spec = load_model(DATA / "nvidia--Qwen3.6-27B-NVFP4")
    options = Settings().analysis_options(model=spec)
    ops = {op.name: op for op in build_graph(spec, options).operators}
    quant = options.quantization
    assert (ops["q_proj"].compute_bits(quant), ops["gate_proj"].compute_bits(quant)) == (8, 16)
    assert ops["mixer_ba_proj"].compute_bits(quant) == 16 and not ops["mixer_ba_proj"].quantized
    device = rooflens.get_device("b200")
    placement = Placement.of(build_graph(spec, options), device, quant)
    dtypes = dict(zip(placement.names, placement.dtypes, strict=True))
    assert (dtypes["q_proj"], dtypes["gate_proj"], dtypes["lm_head"]) == ("fp8", "bf16", "bf16")


def test_qwen3_6_35b_a3b_stores_its_experts_in_nvfp4_and_attention_in_fp8() -> None:
    name = "nvidia--Qwen3.6-35B-A3B-NVFP4"
    quant = load_model(DATA / name).checkpoint_quant
    # Its config.json recipe names no KV cache scheme: a 16-bit cache, as vLLM reads it.
    w4a16 = W4A16.model_copy(update={"kv_bits": 16})
    assert quant.quantization == w4a16
    assert [kind for kind, _ in quant.modules] == [
        "attention", "mixer_in_proj", "mixer_out_proj", "lm_head"
    ]  # fmt: skip
    assert quant.partial == (("mixer_ba_proj", 30, 30),)
    total, active = _params(name)
    assert total == 34_660_610_688
    experts = 40 * 256 * 3 * 2048 * 512
    # "35B total, 3B active": 8 of 256 experts, embedding and head included.
    assert active == total - experts + experts * 8 // 256 == 3_454_988_928
    fp8 = 10 * (2 * 2048 * 4096 + 2 * 2048 * 512 + 4096 * 2048) + 30 * (2048 * 12288 + 4096 * 2048)
    nvfp4 = experts + 40 * 3 * 2048 * 512 + 2048 * 248320
    weights = 2 * (total - fp8 - nvfp4) + fp8 + nvfp4 * 9 / 16
    assert _weights(name) == weights == 20_824_909_056


def _qwen3_6_with(listed: dict) -> dict:
    config = read_config_file(DATA / "nvidia--Qwen3.6-27B-NVFP4")
    recipe = {**config["quantization_config"], "quantized_layers": listed}
    return {**config, "quantization_config": recipe}


def test_mixed_precision_that_rooflens_cannot_store_is_refused() -> None:
    listed = read_config_file(DATA / "nvidia--Qwen3.6-27B-NVFP4")["quantization_config"][
        "quantized_layers"
    ]
    other = {**listed, "lm_head": {"quant_algo": "W4A8_AWQ"}}
    with pytest.raises(ModelConfigError) as caught:
        spec_from_config(_qwen3_6_with(other))
    assert str(caught.value) == (
        "quantization_config (modelopt): quantized_layers['lm_head'].quant_algo='W4A8_AWQ' is "
        "not supported; supported: FP8, NVFP4, W4A16_NVFP4, MXFP8"
    )
    o_proj = "model.language_model.layers.3.self_attn.o_proj"
    some = {k: v for k, v in listed.items() if k != o_proj}
    with pytest.raises(ModelConfigError) as caught:
        spec_from_config(_qwen3_6_with(some))
    assert str(caught.value) == (
        "quantization_config (modelopt): quantized_layers lists o_proj (attention) as FP8 in 15 "
        "of the 16 layers holding it; rooflens stores an operator at one width in every layer"
    )
    mixed = {**listed, o_proj: {"quant_algo": "NVFP4"}}
    with pytest.raises(ModelConfigError) as caught:
        spec_from_config(_qwen3_6_with(mixed))
    assert str(caught.value) == (
        "quantization_config (modelopt): quantized_layers gives o_proj (attention) the recipes "
        "['FP8', 'NVFP4']; rooflens stores an operator at one width in every layer"
    )
    with pytest.raises(ModelConfigError) as caught:
        read_quantization_config(_qwen3_6_with(listed)["quantization_config"])
    assert str(caught.value) == (
        "quantization_config (modelopt): quant_algo='MIXED_PRECISION' gives each module its "
        "own recipe; it is read with the model (spec_from_config), whose modules its names are"
    )


def test_a_w4a16_nvfp4_recipe_stores_nvfp4_weights_beside_16_bit_activations() -> None:
    quant = read_quantization_config({"quant_method": "modelopt", "quant_algo": "W4A16_NVFP4"})
    assert quant.quantization == W4A16.model_copy(update={"kv_bits": 16})
    with pytest.raises(ModelConfigError) as caught:
        read_quantization_config({"quant_method": "modelopt", "quant_algo": "INT4_AWQ"})
    assert str(caught.value) == (
        "quantization_config (modelopt): quant_algo='INT4_AWQ' is not supported; supported: "
        "FP8, NVFP4, W4A16_NVFP4, MXFP8, MIXED_PRECISION"
    )


def test_nemotron_3_ultra_counts_its_layers_from_its_layer_list() -> None:
    """Its config.json gives layers_block_type (108 entries) and no num_hidden_layers, which
    transformers 5's NemotronHConfig derives from the list: 48 Mamba2, 48 latent MoE (512
    experts of 5120, top-22, latent 2048), 12 attention layers; NVIDIA's "550 billion total
    and 55 billion active parameters" (53.9B without the embedding and head)."""
    name = "nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-NVFP4"
    spec = load_model(DATA / name)
    assert (spec.num_layers, spec.mixer_layers, spec.attention_layers) == (108, 48, 12)
    assert spec.expert_latent_size == 2048
    total, active = _params(name)
    assert total == 549_308_993_536
    assert active - 2 * 131072 * 8192 == 53_911_359_488
