"""Dense and hybrid-attention families read from their bundled config.json: each one's layer
kinds, its parameter total counted by hand from the config and against the published figure,
its KV cache per token, and the refusal of a variant rooflens cannot represent."""

from __future__ import annotations

import numpy as np
import pytest

import rooflens
from config_edit import mutated
from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes
from rooflens.core.options import Parallelism
from rooflens.models import load_model, spec_from_config
from rooflens.models.catalog import bundled_config
from rooflens.models.readers.nemotron_nas import ffn_width


def kv_bytes_per_token(spec, tokens: float = 1.0) -> float:
    """The KV cache of one sequence of `tokens` tokens at 16 bits, as rooflens keeps it."""
    spans = kv_spans(spec, AnalysisOptions())
    return float(kv_cache_bytes(spec, Quantization(), np.array(1.0), np.array(tokens), spans))


def counts(graph, name: str) -> list[float]:
    """How many layers run each operator called `name` (one per width where widths differ)."""
    return [graph.count(op) for op in graph.operators if op.name == name]


# --- Nemotron-NAS (Llama-Nemotron Super and Ultra) -----------------------------------------

SUPER = "nvidia/Llama-3_3-Nemotron-Super-49B-v1"
ULTRA = "nvidia/Llama-3_1-Nemotron-Ultra-253B-v1"


def _nas_params_by_hand(config: dict) -> int:
    """Embedding and head, final norm, then each block as its own block_configs entry says:
    attention (norm, q and o of h x h, k and v of h x kv x d) and a SwiGLU MLP (norm, 3 x h x
    width), each present unless no_op."""
    h, heads, vocab = config["hidden_size"], config["num_attention_heads"], config["vocab_size"]
    d = h // heads
    total = 2 * vocab * h + h
    for block in config["block_configs"]:
        attention, ffn = block["attention"], block["ffn"]
        if not attention["no_op"]:
            kv = heads // attention["n_heads_in_group"]
            total += h + 2 * h * heads * d + 2 * h * kv * d
        if not ffn["no_op"]:
            total += h + 3 * h * ffn_width(ffn["ffn_mult"], h)
    return total


def test_nemotron_nas_ffn_width_is_decilms_rounding() -> None:
    # int(2 x mult x 8192 / 3), rounded up to a multiple of 256.
    assert ffn_width(5.25, 8192) == 28672
    assert ffn_width(1.0, 8192) == 5632  # 5461 -> 5632
    assert ffn_width(0.5, 8192) == 2816  # 2730 -> 2816
    assert ffn_width(3.28125, 8192) == 17920


def test_nemotron_super_reads_each_block() -> None:
    config = bundled_config(SUPER)
    spec = load_model(SUPER)
    blocks = config["block_configs"]
    attention = sum(not b["attention"]["no_op"] for b in blocks)
    assert (spec.num_layers, spec.attention_layers, spec.mlp_layers) == (80, attention, None)
    assert attention == 49 and spec.num_kv_heads == 64 // 8
    # Every width as its blocks give it, narrowest first, with its number of blocks.
    widths: dict[int, int] = {}
    for block in blocks:
        width = ffn_width(block["ffn"]["ffn_mult"], 8192)
        widths[width] = widths.get(width, 0) + 1
    assert spec.mlp_widths == tuple(sorted(widths.items()))
    assert spec.mlp_widths[-1] == (28672, 49) and spec.intermediate_size == 28672
    graph = build_graph(spec, AnalysisOptions())
    assert sum(counts(graph, "q_proj")) == 49
    assert counts(graph, "down_proj") == [n for _, n in spec.mlp_widths]
    ours = graph.params()
    assert ours == _nas_params_by_hand(config) == 49_867_145_216
    assert round(ours / 1e8) == 499  # Hugging Face's 49.9B
    # K and V of 8 heads x 128 in the 49 attention blocks only, 2 bytes each.
    assert kv_bytes_per_token(spec) == 49 * 2 * 8 * 128 * 2


def test_nemotron_ultra_has_blocks_with_neither_sublayer() -> None:
    config = bundled_config(ULTRA)
    spec = load_model(ULTRA)
    blocks = config["block_configs"]
    empty = sum(b["attention"]["no_op"] and b["ffn"]["no_op"] for b in blocks)
    assert (spec.num_layers, spec.attention_layers, spec.mlp_layers, empty) == (162, 64, 81, 81)
    graph = build_graph(spec, AnalysisOptions())
    assert sum(counts(graph, "down_proj")) == 81
    assert graph.params() == _nas_params_by_hand(config) == 253_401_268_224
    assert kv_bytes_per_token(spec) == 64 * 2 * (128 // 16) * 128 * 2


def test_nemotron_nas_tensor_parallel_splits_every_width() -> None:
    spec = load_model(SUPER)
    tp8 = AnalysisOptions(parallelism=Parallelism(tp=8, link_bandwidth=450e9))
    graph = build_graph(spec, tp8)
    ups = [op.out_features for op in graph.operators if op.name == "up_proj"]
    assert ups == [width // 8 for width, _ in spec.mlp_widths]
    whole = build_graph(spec, AnalysisOptions()).params()
    assert graph.params() * 8 == pytest.approx(whole, rel=0.01)  # norms are replicated


def test_nemotron_super_generates() -> None:
    result = rooflens.analyze(SUPER, "h100-sxm", prompt_len=1024, gen_len=16)
    assert float(result.generation["ttft"]) > 0 and float(result.generation["tpot"]) > 0


def _with_block(index: int, part: str, key: str, value: object) -> dict:
    """Super's config with one key of one block's sublayer ("attention" or "ffn") set."""
    blocks = [dict(block) for block in bundled_config(SUPER)["block_configs"]]
    blocks[index] = {**blocks[index], part: {**blocks[index][part], key: value}}
    return mutated(SUPER, "block_configs", blocks)


@pytest.mark.parametrize(
    ("part", "key", "value", "named"),
    [
        # A linear layer in place of attention or of the MLP is not modelled.
        ("attention", "replace_with_linear", True, "attention.replace_with_linear=True"),
        ("ffn", "replace_with_linear", True, "ffn.replace_with_linear=True"),
        # Window and sink attention are not read.
        ("attention", "window_length", 4096, "attention.window_length=4096"),
        # KV heads that differ by layer: 16 in block 0, 8 in the other 48.
        ("attention", "n_heads_in_group", 4, "n_heads_in_group={4: 1, 8: 48}"),
        ("ffn", "ffn_mult", "5.25", "ffn.ffn_mult='5.25'"),
    ],
)
def test_nemotron_nas_unrepresentable_blocks_are_refused(
    part: str, key: str, value: object, named: str
) -> None:
    with pytest.raises(ModelConfigError) as refused:
        spec_from_config(_with_block(0, part, key, value))
    message = str(refused.value)
    assert named in message and "supported:" in message and "\n" not in message
