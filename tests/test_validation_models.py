"""Models of the engine validation set (aiconfigurator's measured serving runs): each bundled
config analyses at its checkpoint's precision, and the validation set's names resolve."""

from __future__ import annotations

import pytest

import rooflens
from rooflens.core import AnalysisOptions
from rooflens.measure.validate_engines import Inexpressible, catalog_model
from rooflens.models import default_quantization, load_model, unquantized_modules
from rooflens.models.catalog import bundled_twin, resolve_config

VALIDATION_MODELS = [
    "deepseek-ai/DeepSeek-R1",
    "Qwen/Qwen3-235B-A22B",
    "Qwen/Qwen3-235B-A22B-FP8",
    "MiniMaxAI/MiniMax-M2.5",
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
    ],
)
def test_later_release_keeps_its_predecessors_architecture(release: str, architecture: str) -> None:
    spec, earlier = load_model(release), load_model(architecture)
    assert spec.model_copy(update={"name": earlier.name}) == earlier


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
    ],
)
def test_validation_harness_maps_the_data_sets_model_names(model_path: str, bundled: str) -> None:
    assert catalog_model(model_path) == bundled


def test_validation_harness_names_a_model_it_cannot_find() -> None:
    with pytest.raises(Inexpressible, match="not in the bundled catalog"):
        catalog_model("example-org/Unknown-Model-7B")
