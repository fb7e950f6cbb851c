"""A null `sliding_window`: every layer attends to every key where the family's transformers
config class allows null (vLLM gives the window layers per_layer_sliding_window None), refused
where the class types it an int. It had read as the class default window (gpt-oss-120b 128,
gemma-3-1b-it 4,096 over its own 512)."""

from __future__ import annotations

import numpy as np
import pytest

from config_edit import TOY, mutated
from rooflens.core import AnalysisOptions
from rooflens.core.errors import ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes
from rooflens.core.options import Quantization
from rooflens.models import spec_from_config

TOWER = {"depth": 1, "embed_dim": 8, "hidden_size": 16, "num_heads": 2, "mlp_ratio": 3}


def _kv(model: str, path: str, tokens: int) -> float:
    spec = spec_from_config(mutated(model, path, None))
    assert (spec.sliding_window, spec.window_layers) == (None, None)
    spans = kv_spans(spec, AnalysisOptions())
    return float(kv_cache_bytes(spec, Quantization(), np.array(1.0), np.array(tokens), spans))


def test_gpt_oss_null_window_attends_fully() -> None:
    # 36 layers x 8 KV heads x 64 x (K, V) x 2 bytes = 36 x 2,048 bytes a token, all kept
    # (the window layers had kept 128: 41,619,456 bytes at 1,001 tokens).
    assert _kv("openai/gpt-oss-120b", "sliding_window", 1001) == 36 * 2048 * 1001 == 73_801_728


def test_gemma3_null_window_attends_fully() -> None:
    # 26 layers x 1 KV head x 256 x (K, V) x 2 bytes = 26 x 1,024 bytes a token; at 8,192
    # tokens the 22 window layers had kept 4,096 (125,829,120 bytes).
    kv = _kv("google/gemma-3-1b-it", "sliding_window", 8192)
    assert kv == 26 * 1024 * 8192 == 218_103_808
    # Absent: Gemma3TextConfig's 4,096; written: the config's own.
    assert (
        spec_from_config(mutated("google/gemma-3-1b-it", "sliding_window", 512)).sliding_window
        == 512
    )


@pytest.mark.parametrize(
    ("config", "windowed"),
    [
        (dict(TOY, model_type="olmo3"), 6),
        (dict(TOY, model_type="cohere2"), 6),
        (dict(TOY, model_type="vaultgemma"), 4),
        (dict(TOY, model_type="granite_swa", num_hidden_layers=5), 3),
        (dict(TOY, model_type="qwen3", use_sliding_window=True, max_window_layers=4), 4),
        (
            {
                "model_type": "qwen2_vl",
                "text_config": dict(TOY, use_sliding_window=True, max_window_layers=4),
                "vision_config": TOWER,
            },
            4,
        ),
    ],
)
def test_other_null_windows_attend_fully(config: dict, windowed: int) -> None:
    nested = "text_config" in config
    inner = config["text_config"] if nested else config
    spec = spec_from_config(
        config
        | ({"text_config": inner | {"sliding_window": 6}} if nested else {"sliding_window": 6})
    )
    assert (spec.sliding_window, spec.window_layers) == (6, windowed)
    null = config | (
        {"text_config": inner | {"sliding_window": None}} if nested else {"sliding_window": None}
    )
    spec = spec_from_config(null)
    assert (spec.sliding_window, spec.window_layers) == (None, None)


@pytest.mark.parametrize(
    ("model", "path", "cls", "default"),
    [
        ("google/gemma-4-26B-A4B", "text_config.sliding_window", "Gemma4TextConfig", 512),
        ("deepseek-ai/DeepSeek-V4-Flash", "sliding_window", "DeepseekV4Config", 128),
        ("XiaomiMiMo/MiMo-V2-Flash", "sliding_window", "MiMoV2FlashConfig", 129),
    ],
)
def test_a_null_window_is_refused_where_the_class_types_it_an_int(
    model: str, path: str, cls: str, default: int
) -> None:
    config = mutated(model, path, None)
    config.pop("sliding_window_size", None)  # MiMo-V2-Flash's other spelling, read first
    with pytest.raises(ModelConfigError) as refused:
        spec_from_config(config)
    assert (
        "sliding_window=None is invalid: expected a positive integer "
        f"({cls} declares it an int, {default} where absent)"
    ) in str(refused.value)


def test_qwen_window_is_its_class_default_where_absent() -> None:
    # Qwen2Config and Qwen3Config: 4,096 where absent (it had read as no window).
    config = dict(TOY, model_type="qwen3", use_sliding_window=True, max_window_layers=4)
    assert spec_from_config(config).sliding_window == 4096
