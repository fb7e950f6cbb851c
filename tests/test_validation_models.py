"""Models of the engine validation set (aiconfigurator's measured serving runs): each bundled
config analyses at its checkpoint's precision, and the validation set's names resolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rooflens
from rooflens.core import AnalysisOptions
from rooflens.core.errors import ModelConfigError
from rooflens.core.vision import vision_params
from rooflens.measure.validate_engines import Inexpressible, catalog_model
from rooflens.models import default_quantization, load_model, unquantized_modules
from rooflens.models.catalog import bundled_config, bundled_twin, resolve_config
from rooflens.models.quant import module_classes

VALIDATION_MODELS = [
    "deepseek-ai/DeepSeek-R1",
    "Qwen/Qwen3-235B-A22B",
    "Qwen/Qwen3-235B-A22B-FP8",
    "MiniMaxAI/MiniMax-M2.5",
    "moonshotai/Kimi-K2.5",
    "nvidia/DeepSeek-V3.1-NVFP4",
    "nvidia/Qwen3-32B-NVFP4",
    "nvidia/Llama-3.1-8B-Instruct-FP8",
    "Qwen/Qwen3.5-397B-A17B",
]


@pytest.mark.parametrize("model_id", VALIDATION_MODELS)
def test_validation_model_analyses_prefill_decode_and_generation(model_id: str) -> None:
    spec = load_model(model_id)
    options = AnalysisOptions(
        quantization=default_quantization(spec), unquantized_modules=unquantized_modules(spec)
    )
    result = rooflens.core.analyze(
        spec, rooflens.get_device("h200-sxm"), prompt_len=512, gen_len=8, options=options
    )
    prefill, decode = result.totals()["prefill"], result.totals()["decode"]
    # Prefill of 512 tokens does more work per step than one decode token.
    assert float(prefill["ops"]) > 100 * float(decode["ops"]) > 0
    generation = result.generation
    # Time to first token is the prefill step; the 7 later tokens each take one TPOT.
    assert float(generation["ttft"]) == pytest.approx(float(result.steps["prefill"].step_time()))
    assert float(generation["e2e_latency"]) == pytest.approx(
        float(generation["ttft"]) + 7 * float(generation["tpot"])
    )
    assert float(generation["tpot"]) > 0 and float(generation["ops"]) > float(prefill["ops"])
    memory = result.memory["generation"]
    assert float(memory.kv_cache) > 0 and float(memory.total) > float(memory.weights)


@pytest.mark.parametrize(
    ("release", "architecture"),
    [
        ("deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-V3"),
        ("MiniMaxAI/MiniMax-M2.5", "MiniMaxAI/MiniMax-M2"),
        ("nvidia/DeepSeek-V3.1-NVFP4", "deepseek-ai/DeepSeek-V3"),
        ("nvidia/Qwen3-32B-NVFP4", "Qwen/Qwen3-32B"),
        ("nvidia/Llama-3.1-8B-Instruct-FP8", "meta-llama/Llama-3.1-8B"),
    ],
)
def test_later_release_keeps_its_predecessors_architecture(release: str, architecture: str) -> None:
    spec, earlier = load_model(release), load_model(architecture)
    same = {"name": earlier.name, "checkpoint_quant": earlier.checkpoint_quant}
    assert spec.model_copy(update=same) == earlier


@pytest.mark.parametrize(
    ("name", "bundled"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B"),
        ("deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1"),
        ("zai-org/GLM-5", "zai-org/GLM-5.1"),
    ],
)
def test_validation_set_names_resolve_to_bundled_configs(name: str, bundled: str) -> None:
    _config, label = resolve_config(name)
    assert label.startswith(name)
    assert load_model(name).model_copy(update={"name": bundled}) == load_model(bundled)


def test_qwen3_235b_fp8_checkpoint_stores_fp8_blocks_and_a_16_bit_router() -> None:
    bf16, fp8 = load_model("Qwen/Qwen3-235B-A22B"), load_model("Qwen/Qwen3-235B-A22B-FP8")
    assert bf16.checkpoint_quant is None
    quant = fp8.checkpoint_quant
    assert quant is not None and quant.method == "fp8"
    assert (quant.quantization.w_bits, quant.quantization.a_bits) == (8, 8)
    assert quant.quantization.w_scale == 128 * 128
    assert quant.unquantized == ("router",)
    assert fp8.model_copy(update={"name": bf16.name, "checkpoint_quant": None}) == bf16


def test_twins_are_found_by_id_or_short_name_and_only_for_unbundled_models() -> None:
    assert bundled_twin("zai-org/GLM-5") == "zai-org/GLM-5.1"
    assert bundled_twin("llama-3.1-8b-instruct") == "meta-llama/Llama-3.1-8B"
    assert bundled_twin("deepseek-ai/DeepSeek-R1") is None


@pytest.mark.parametrize(
    ("model_path", "bundled"),
    [
        ("zhipuai/GLM-5", "zai-org/GLM-5.1"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B"),
        ("deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1"),
        ("Qwen/Qwen3-235B-A22B-FP8", "Qwen/Qwen3-235B-A22B-FP8"),
        ("nvidia/DeepSeek-R1-NVFP4", "deepseek-ai/DeepSeek-R1"),
        ("nvidia/Llama-3.1-8B-Instruct-FP8", "nvidia/Llama-3.1-8B-Instruct-FP8"),
    ],
)
def test_validation_harness_maps_the_data_sets_model_names(model_path: str, bundled: str) -> None:
    assert catalog_model(model_path) == bundled


def test_validation_harness_names_a_model_it_cannot_find() -> None:
    with pytest.raises(Inexpressible, match="not in the bundled catalog"):
        catalog_model("example-org/Unknown-Model-7B")


def test_kimi_k25_is_kimi_k2_with_a_moonvit_tower_and_int4_experts() -> None:
    k25, k2 = load_model("moonshotai/Kimi-K2.5"), load_model("moonshotai/Kimi-K2-Instruct")
    language_model = k25.model_copy(
        update={
            "name": k2.name,
            "model_type": k2.model_type,
            "vision": None,
            "checkpoint_quant": k2.checkpoint_quant,
            "max_positions": k2.max_positions,
        }
    )
    assert language_model == k2 and k25.max_positions == 262144
    vision = k25.vision
    assert vision is not None
    # 1008 x 1008 pixels: 72 x 72 patches of 14, merged 2 x 2 into 1296 tokens of 4 x 1152.
    assert (vision.patches, vision.tokens_per_image) == (72 * 72, 36 * 36)
    assert vision.projector == ((4608, 4608), (4608, 7168))
    per_block = 2 * 2 * 1152 + 4 * (1152 * 1152 + 1152) + 2 * 1152 * 4304 + 4304 + 1152
    tower = 27 * per_block + (588 + 1) * 1152 + 64 * 64 * 1152 + 2 * 1152
    projector = 2 * 1152 + 4608 * 4608 + 4608 + 4608 * 7168 + 7168
    assert vision_params(k25) == tower + projector
    quant = k25.checkpoint_quant
    assert quant is not None and quant.method == "compressed-tensors"
    assert (quant.quantization.w_bits, quant.quantization.group_size) == (4, 32)
    assert quant.unquantized == ("attention", "shared_experts", "mlp")


def test_kimi_k25_prices_an_image_before_the_prompt() -> None:
    spec = load_model("moonshotai/Kimi-K2.5")
    device = rooflens.get_device("h200-sxm")
    with_image = rooflens.core.analyze(spec, device, prompt_len=512, gen_len=8, images=1)
    assert float(with_image.generation["ttft"]) == pytest.approx(
        float(with_image.steps["prefill"].step_time() + with_image.steps["vision"].step_time())
    )


def _modelopt_folder(folder: Path, exclude: list[str]) -> Path:
    config = dict(bundled_config("deepseek-ai/DeepSeek-V3"))
    del config["quantization_config"]
    (folder / "config.json").write_text(json.dumps(config))
    quant = {
        "producer": {"name": "modelopt"},
        "quantization": {"quant_algo": "NVFP4", "group_size": 16, "exclude_modules": exclude},
    }
    (folder / "hf_quant_config.json").write_text(json.dumps(quant))
    return folder


def test_a_modelopt_folder_reads_its_hf_quant_config(tmp_path: Path) -> None:
    # DeepSeek-V3 has 61 decoder layers; "model.layers.61*" is the MTP layer after them. One
    # projection of one layer leaves that projection of that layer at 16 bits, no more.
    exclude = ["lm_head", "model.layers.0.self_attn.q_a_proj", "model.layers.61*"]
    spec = load_model(_modelopt_folder(tmp_path, exclude))
    quant = spec.checkpoint_quant
    assert quant is not None and quant.method == "modelopt"
    assert (quant.quantization.w_bits, quant.quantization.a_bits) == (4, 4)
    assert quant.quantization.w_format == "nvfp4" and quant.unquantized == ()
    assert quant.partial == (("q_a_proj", 1, 61),)


def test_a_whole_decoder_layer_left_unquantized_is_priced_at_16_bits(tmp_path: Path) -> None:
    """An exclude list's "model.layers.3*" is every module of layer 3, DeepSeek-V3's first MoE
    layer (its first_k_dense_replace is 3): its attention, shared expert and 256 experts stay
    in BF16."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = rooflens.analyze(str(_modelopt_folder(tmp_path / "a", [])), "b200", gen_len=2)
    spec = load_model(_modelopt_folder(tmp_path / "b", ["model.layers.3*"]))
    attention = ("q_a_proj", "q_b_proj", "kv_a_proj", "latent_attention", "o_proj")
    moe = ("expert_gate_proj", "expert_up_proj", "expert_down_proj")
    shared = ("shared_gate_proj", "shared_up_proj", "shared_down_proj")
    assert spec.checkpoint_quant.partial == (
        *((op, 1, 61) for op in attention),
        *((op, 1, 58) for op in (*moe, *shared)),
    )
    kept = rooflens.analyze(str(tmp_path / "b"), "b200", gen_len=2)
    # Layer 3: q_a 7168 x 1536, q_b 1536 x 128*192, kv_a 7168 x 576, kv_b 512 x 128*256,
    # o 128*128 x 7168; 257 experts of 3 x 7168 x 2048. BF16 (2 bytes) for NVFP4 (4.5 bits).
    params = (
        7168 * 1536 + 1536 * 24576 + 7168 * 576 + 512 * 32768 + 16384 * 7168
        + 257 * 3 * 7168 * 2048
    )  # fmt: skip
    assert params == 11_505_434_624
    difference = float(kept.memory["decode"].weights - plain.memory["decode"].weights)
    assert difference == params * (16 - 4.5) / 8


def test_a_whole_layer_of_a_layout_rooflens_cannot_tell_is_refused() -> None:
    config = dict(bundled_config("Qwen/Qwen3-Next-80B-A3B-Instruct"))
    recipe = {"quant_method": "modelopt", "quant_algo": "NVFP4", "ignore": ["model.layers.3*"]}
    with pytest.raises(ModelConfigError) as caught:
        rooflens.models.spec_from_config({**config, "quantization_config": recipe})
    assert str(caught.value) == (
        "quantization_config (modelopt): 'model.layers.3*' in its list of unquantized modules "
        "names the whole layer 3, but rooflens cannot tell which modules that layer holds (it "
        "knows the layers of models whose layers are alike, of dense-first MoE models by "
        "first_k_dense_replace, moe_layer_start_index or mlp_layer_types, and of Nemotron-H "
        "by hybrid_override_pattern)"
    )


def test_the_mtp_layer_is_told_from_decoder_layers_by_the_layer_count() -> None:
    assert module_classes(["model.layers.61*", "lm_head"], "modelopt", num_layers=61) == ()
    with pytest.raises(ModelConfigError):
        module_classes(["model.layers.60*"], "modelopt", num_layers=61)


@pytest.mark.parametrize(
    ("model_id", "w_bits", "w_format", "w_scale"),
    [
        ("nvidia/Qwen3-32B-NVFP4", 4, "nvfp4", "channel"),
        ("nvidia/Llama-3.1-8B-Instruct-FP8", 8, "fp", "tensor"),
    ],
)
def test_modelopt_checkpoints_store_every_block_linear_quantized(
    model_id: str, w_bits: int, w_format: str, w_scale: str
) -> None:
    quant = load_model(model_id).checkpoint_quant
    assert quant is not None and quant.method == "modelopt" and quant.unquantized == ()
    stored = quant.quantization
    assert (stored.w_bits, stored.a_bits, stored.w_format, stored.w_scale) == (
        w_bits,
        w_bits,
        w_format,
        w_scale,
    )


def test_qwen35_397b_layers_mixers_and_experts() -> None:
    spec = load_model("Qwen/Qwen3.5-397B-A17B")
    # 15 x (3 Gated DeltaNet + 1 gated full attention), every layer MoE (512 experts, top 10).
    assert (spec.num_layers, spec.mixer_layers, spec.attention_layers) == (60, 45, 15)
    assert (spec.num_experts, spec.experts_per_token, spec.expert_intermediate_size) == (
        512,
        10,
        1024,
    )
    assert spec.mixer is not None and spec.mixer.kind == "gated_deltanet"
    assert (spec.mixer.num_heads, spec.mixer.num_key_heads, spec.mixer.head_dim) == (64, 16, 128)
    assert (spec.num_heads, spec.num_kv_heads, spec.head_dim) == (32, 2, 256)


def test_a_layer_past_the_decoder_and_its_mtp_layers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError) as caught:
        load_model(_modelopt_folder(tmp_path, ["model.layers.62*"]))
    assert str(caught.value) == (
        "quantization_config (modelopt): 'model.layers.62*' in its list of unquantized modules "
        "names layer 62, past the model's 61 layers and 1 MTP layer"
    )
