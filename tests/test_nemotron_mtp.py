"""Nemotron 3 Super's and Ultra's MTP modules (config.json: num_nextn_predict_layers 1 and an
attention-then-MoE layout, tests/data/modelopt as published), read the way DeepSeek's are:
counted apart from the generating model and usable as built-in drafts. The module's parameters
are hand-computed here; transformers' NemotronHForCausalLM built with the two layers
["full_attention", "moe"] from the same config gives the same two layers (less the router's
score-correction bias, which it holds as a buffer and the checkpoint as a tensor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rooflens
from rooflens.core.errors import ModelConfigError
from rooflens.core.memory import kv_bytes_per_token
from rooflens.core.mtp import mtp_model, mtp_params
from rooflens.core.options import Quantization
from rooflens.models import load_model, spec_from_config
from rooflens.models.catalog import read_config_file

DATA = Path(__file__).parent / "data" / "modelopt"
SUPER = DATA / "nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8"
ULTRA = DATA / "nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-NVFP4"


def _module_params(h: int, heads: int, kv_heads: int, experts: int, expert: int, latent: int,
                   shared: int) -> int:  # fmt: skip
    """One MTP module as vLLM's NemotronHMTP builds it: enorm and hnorm, eh_proj (2h -> h), an
    attention layer (its norm, q, k, v, o with head_dim 128), an MoE layer (its norm, router
    and score-correction bias, fc1/fc2_latent_proj, routed experts' up and down in the latent
    width, the shared expert's up and down) and the final norm. No embedding or head: the
    module reads the main model's."""
    joining = 2 * h + 2 * h * h
    attention = h + h * heads * 128 + 2 * h * kv_heads * 128 + heads * 128 * h
    moe = h + experts * (h + 1) + 2 * h * latent + experts * 2 * latent * expert + 2 * h * shared
    return joining + attention + moe + h


def test_nemotron_3_super_and_ultra_read_their_mtp_module() -> None:
    super_, ultra = load_model(SUPER), load_model(ULTRA)
    assert (super_.mtp_layers, super_.mtp_own_embeddings) == (1, False)
    assert mtp_params(super_) == _module_params(4096, 32, 2, 512, 2688, 1024, 5376)
    # transformers' two layers (2,908,758,016) plus eh_proj and the three norms (33,566,720),
    # plus the 512 score-correction biases.
    assert mtp_params(super_) == 2_908_758_016 + 33_566_720 + 512 == 2_942_325_248
    assert ultra.mtp_layers == 1
    assert mtp_params(ultra) == _module_params(8192, 64, 2, 512, 5120, 2048, 10240)
    assert mtp_params(ultra) == 11_081_367_552 + 134_242_304 + 512 == 11_215_610_368
    # The main model's count is unchanged (llama.cpp's 120,668,707,840 leaves the MTP out).
    assert rooflens.core.build_graph(super_, rooflens.core.AnalysisOptions()).params() == (
        120_668_707_840
    )


def test_nemotron_mtp_module_caches_one_attention_layer_and_drafts() -> None:
    spec = load_model(SUPER)
    layer = mtp_model(spec)
    assert (layer.num_layers, layer.attention_layers, layer.mixer_layers) == (1, 1, 0)
    # K and V of 2 heads of 128 at 2 bytes: 1,024 bytes per token in its one attention layer.
    assert float(kv_bytes_per_token(layer, Quantization())) == 2 * 2 * 128 * 2
    one = rooflens.speculate(spec, "h200-sxm", gamma=1, alpha=0.8, mtp=True)
    two = rooflens.speculate(spec, "h200-sxm", gamma=2, alpha=0.8, mtp=True)
    assert float(one.tokens_per_step) == pytest.approx(1.8)
    assert float(two.draft_time) == pytest.approx(2 * float(one.draft_time))
    # One attention and one MoE layer against 40 Mamba, 8 attention and 40 MoE layers.
    assert float(one.draft_time) < float(one.plain_step) / 4
    assert np.all(np.asarray(one.speedup) > 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"mtp_hybrid_override_pattern": "*E*E"},
            r"mtp_hybrid_override_pattern='\*E\*E' is not supported with "
            r"num_nextn_predict_layers=1; supported: '\*E'",
        ),
        (
            {"mtp_layers_block_type": ["mamba", "moe"]},
            r"mtp_layers_block_type=\['mamba', 'moe'\] is not supported",
        ),
    ],
)
def test_an_mtp_layout_other_than_attention_then_moe_is_refused(fields, message) -> None:
    config = read_config_file(SUPER) | fields
    with pytest.raises(ModelConfigError, match=message):
        spec_from_config(config)
    # Without MTP modules the layout is not read.
    assert spec_from_config(config | {"num_nextn_predict_layers": 0}).mtp_layers == 0
