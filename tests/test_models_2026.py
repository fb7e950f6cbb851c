"""Models and checkpoints of 2026: Nemotron 3, GLM-5's MTP layer, ModelOpt's KV-cache recipe
and its Hub fetch, and the new families' mechanisms on hand-checked tiny configs."""

from __future__ import annotations

import json

import huggingface_hub
import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.mtp import mtp_params
from rooflens.models import load_model
from rooflens.models.quant import default_quantization, read_quantization_config
from rooflens.serving import Requests
from rooflens.settings import Settings


def op(graph, name: str):
    return next(o for o in graph.operators if o.name == name)


# --- Nemotron 3 ------------------------------------------------------------------------------


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
    requests = Requests(np.array([0.0, 0.02]), np.array([512, 256]), np.array([8, 4]), 0)
    served = rooflens.simulate("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "h200-sxm", requests)
    assert (served.requests["tpot"] > 0).all()


# --- GLM-5's MTP layer -----------------------------------------------------------------------


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
