"""Dense and hybrid-attention families read from their bundled config.json: each one's layer
kinds, its parameter total counted by hand from the config and against the published figure,
its KV cache per token, and the refusal of a variant rooflens cannot represent."""

from __future__ import annotations

import numpy as np
import pytest

import rooflens
from config_edit import TOY, mutated
from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes
from rooflens.core.options import Parallelism
from rooflens.formats import operator_label as format_operator_label
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


def dense_params(config: dict, *, qkv_bias: bool, o_bias: bool, norms: int, qk_norms: int = 0):
    """A Llama-shaped model counted from its config.json: q/k/v/o (with their biases), a
    SwiGLU MLP and `norms` RMSNorms of the hidden size per layer (plus `qk_norms` values of q/k
    norms), the final norm, and the embedding and head (one matrix where tied)."""
    h, heads = config["hidden_size"], config["num_attention_heads"]
    kv, d = config["num_key_value_heads"], config.get("head_dim", h // heads)
    attention = 2 * h * heads * d + 2 * h * kv * d
    attention += (heads * d + 2 * kv * d) * qkv_bias + h * o_bias
    layer = attention + 3 * h * config["intermediate_size"] + norms * h + qk_norms
    embeddings = (1 if config.get("tie_word_embeddings") else 2) * config["vocab_size"] * h
    return config["num_hidden_layers"] * layer + h + embeddings


def kv_by_hand(config: dict, layers: int | None = None) -> int:
    """K and V of every KV head in `layers` layers (all by default), 2 bytes a value."""
    h, heads = config["hidden_size"], config["num_attention_heads"]
    d = config.get("head_dim", h // heads)
    return (layers or config["num_hidden_layers"]) * 2 * config["num_key_value_heads"] * d * 2


def refused(config: dict) -> str:
    """The one-line refusal of a config."""
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(config)
    message = str(error.value)
    assert "\n" not in message
    return message


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


def test_nemotron_super_rows_name_their_width_and_bottlenecks_sum_them() -> None:
    result = rooflens.analyze(SUPER, "h100-sxm", prompt_len=1024, gen_len=16)
    rows = result.operators()
    prefill = rows[rows.stage == "prefill"]
    gates = prefill[prefill.name == "gate_proj"]
    spec = load_model(SUPER)
    assert gates["mlp_width"].tolist() == [width for width, _ in spec.mlp_widths]
    assert prefill.loc[prefill.name == "q_proj", "mlp_width"].tolist() == [None]
    assert format_operator_label("gate_proj", None, None, 28672) == "gate_proj (28,672 wide)"
    # The headline counts the six gate_proj rows as one operator.
    share = (gates["count"] * gates["time"]).sum() / (prefill["count"] * prefill["time"]).sum()
    top = {b["name"]: b for b in result.bottlenecks("prefill", top=10)}
    assert top["gate_proj"]["share"] == pytest.approx(share)
    widest = gates["count"] * gates["time"]
    assert top["gate_proj"]["bound"] == gates.loc[widest.idxmax(), "bound"]
    assert len(top) == len(set(top))


def test_nemotron_nas_sparsity_predictors_follow_each_width() -> None:
    spec = load_model(SUPER)
    graph = build_graph(spec, AnalysisOptions(active_neurons=0.5))
    predictors = [op for op in graph.operators if op.name == "sparsity_predictor_b"]
    # Neurons alone are skipped: each width's predictor scores its neurons, not the heads.
    assert [(op.out_features, op.layers) for op in predictors] == [
        (width, layers) for width, layers in spec.mlp_widths
    ]
    # Heads too: the heads' own predictor in the attention layers (some of Nemotron-NAS's
    # blocks have none), beside each width's.
    both = build_graph(spec, AnalysisOptions(active_neurons=0.5, active_heads=0.5))
    predictors = [op for op in both.operators if op.name == "sparsity_predictor_b"]
    attention = next(op.layers for op in both.operators if op.name == "q_proj")
    assert [(op.out_features, op.layers) for op in predictors] == [
        (spec.num_heads, attention),
        *((width, layers) for width, layers in spec.mlp_widths),
    ]


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


@pytest.mark.parametrize(
    ("mult", "supported"),
    [
        # NaN and infinity passed the sign test and broke the integer width (ValueError,
        # OverflowError: internal errors).
        (float("nan"), "a positive number"),
        (float("inf"), "a positive number"),
        # Refused as rooflens's intermediate_size (null in this config) or mlp_widths.0.0=0.
        (1e12, "a multiplier giving a width of 1 to 4,194,304 (here 5,461,333,333,333,504)"),
        (1e-9, "a multiplier giving a width of 1 to 4,194,304 (here 0)"),
    ],
)
def test_nemotron_nas_multipliers_without_a_width_are_refused(mult: float, supported: str) -> None:
    with pytest.raises(ModelConfigError) as refused:
        spec_from_config(_with_block(0, "ffn", "ffn_mult", mult))
    assert str(refused.value) == (
        f"config.json of model_type 'nemotron-nas': block_configs[0].ffn.ffn_mult={mult!r} is "
        f"not supported; supported: {supported}"
    )


@pytest.mark.parametrize("hidden", [-1, 10**12])
def test_nemotron_nas_hidden_size_is_named_before_the_widths_it_scales(hidden: int) -> None:
    # Refused as the first block's ffn_mult, whose width scales with the hidden size.
    with pytest.raises(ModelConfigError) as refused:
        spec_from_config(mutated(SUPER, "hidden_size", hidden))
    assert str(refused.value) == (
        f"config.json of model_type 'nemotron-nas': hidden_size={hidden} is invalid: expected a "
        "positive integer of at most 4,194,304"
    )


# --- GLM-4-0414 and Seed-OSS ---------------------------------------------------------------

GLM4 = "THUDM/GLM-4-9B-0414"
SEED = "ByteDance-Seed/Seed-OSS-36B-Instruct"


def test_glm4_has_biased_qkv_and_four_norms_a_layer() -> None:
    config = bundled_config(GLM4)
    spec = load_model(GLM4)
    graph = build_graph(spec, AnalysisOptions())
    ops = {op.name: op for op in graph.operators}
    assert ops["q_proj"].bias and ops["k_proj"].bias and not ops["o_proj"].bias
    assert not ops["down_proj"].bias
    for norm in ("attn_norm", "post_attn_norm", "mlp_norm", "post_mlp_norm"):
        assert counts(graph, norm) == [40]
    ours = graph.params()
    assert ours == dense_params(config, qkv_bias=True, o_bias=False, norms=4) == 9_400_279_040
    assert round(ours / 1e9) == 9  # the published "9B"
    assert kv_bytes_per_token(spec) == kv_by_hand(config) == 40 * 2 * 2 * 128 * 2


def test_glm4_kv_heads_that_do_not_divide_the_heads_are_refused() -> None:
    message = refused(mutated(GLM4, "num_key_value_heads", 3))
    assert "num_attention_heads=32 must be a multiple of num_key_value_heads=3" in message


def test_seed_oss_biases_q_k_v_but_not_o() -> None:
    config = bundled_config(SEED)
    spec = load_model(SEED)
    graph = build_graph(spec, AnalysisOptions())
    ops = {op.name: op for op in graph.operators}
    assert ops["v_proj"].bias and not ops["o_proj"].bias
    ours = graph.params()
    assert ours == dense_params(config, qkv_bias=True, o_bias=False, norms=2) == 36_151_104_512
    assert kv_bytes_per_token(spec) == kv_by_hand(config) == 64 * 2 * 8 * 128 * 2
    with_o_bias = spec_from_config(mutated(SEED, "attention_out_bias", True))
    assert build_graph(with_o_bias, AnalysisOptions()).params() == ours + 64 * 5120


def test_seed_oss_bias_flags_are_read_as_booleans() -> None:
    message = refused(mutated(SEED, "attention_out_bias", "false"))
    assert "attention_out_bias='false' is invalid: expected true or false" in message


# --- OLMo 2 and Olmo 3 ----------------------------------------------------------------------

OLMO2 = "allenai/OLMo-2-1124-13B"


def test_olmo2_norms_follow_the_sublayers() -> None:
    config = bundled_config(OLMO2)
    spec = load_model(OLMO2)
    graph = build_graph(spec, AnalysisOptions())
    names = [op.name for op in graph.operators if op.scope == "block"]
    # No norm before attention or the MLP: q/k/v read the residual stream.
    assert "attn_norm" not in names and "mlp_norm" not in names
    assert next(op for op in graph.operators if op.name == "q_proj").inputs == ("x",)
    assert names.index("post_attn_norm") < names.index("attn_add")
    # q/k norms span the whole projections (H·d = H_kv·d = 5120).
    norms = {op.name: op.params() for op in graph.operators if op.name in ("q_norm", "k_norm")}
    assert norms == {"q_norm": 5120, "k_norm": 5120}
    ours = graph.params()
    by_hand = dense_params(config, qkv_bias=False, o_bias=False, norms=2, qk_norms=2 * 5120)
    assert ours == by_hand == 13_716_198_400
    assert round(ours / 1e9) == 14  # Hugging Face's "14B"
    assert kv_bytes_per_token(spec) == kv_by_hand(config) == 40 * 2 * 40 * 128 * 2


def _olmo3(layer_types: list[str] | None = None, **fields: object) -> dict:
    """OLMo 2 13B's config as an Olmo 3 config of 8 layers (window layers by `layer_types`)."""
    config = dict(bundled_config(OLMO2), model_type="olmo3", num_hidden_layers=8, **fields)
    if layer_types is not None:
        config["layer_types"] = layer_types
    return config


def test_olmo3_window_layers_keep_only_the_window() -> None:
    spec = spec_from_config(_olmo3(sliding_window=16))
    # Olmo3Config's default layer_types: three window layers, then a full one.
    assert (spec.sliding_window, spec.window_layers) == (16, 6)
    per_layer = 2 * 40 * 128 * 2
    # 100 tokens: the 2 full layers keep all of them, the 6 window layers their last 16.
    assert kv_bytes_per_token(spec, 100) == (2 * 100 + 6 * 16) * per_layer
    same = build_graph(
        spec_from_config(_olmo3(layer_types=["full_attention"] * 8)), AnalysisOptions()
    )
    assert build_graph(spec, AnalysisOptions()).params() == same.params()


def test_olmo3_unknown_layer_type_is_refused() -> None:
    types = ["sliding_attention", "chunked_attention"] * 4
    message = refused(_olmo3(layer_types=types))
    assert "layer_types holds ['chunked_attention']" in message
    assert "supported: ['full_attention', 'sliding_attention']" in message


# --- Granite, EXAONE 4.0, Command R7B / A (toy configs, counted by hand) --------------------


def test_granite_multipliers_change_no_parameter() -> None:
    config = dict(TOY, model_type="granite", embedding_multiplier=12.0, residual_multiplier=0.22)
    config |= {"attention_multiplier": 0.0078125, "logits_scaling": 16.0}
    spec = spec_from_config(config)
    assert spec.head_dim == 16 // 4 and not spec.tied_embeddings
    ours = build_graph(spec, AnalysisOptions()).params()
    assert ours == dense_params(config, qkv_bias=False, o_bias=False, norms=2)
    assert kv_bytes_per_token(spec) == kv_by_hand(config)


def test_exaone4_norms_after_sublayers_and_window_layers() -> None:
    types = ["sliding_attention"] * 3 + ["full_attention"]
    config = dict(TOY, model_type="exaone4", head_dim=4, sliding_window=8, layer_types=types * 2)
    spec = spec_from_config(config)
    assert not spec.pre_norms and spec.post_norms
    assert spec.qk_norm and not spec.qk_norm_whole
    assert (spec.sliding_window, spec.window_layers) == (8, 6)
    graph = build_graph(spec, AnalysisOptions())
    # Per-head q/k norms: one gain of head_dim each.
    qk = 2 * 4
    assert graph.params() == dense_params(
        config, qkv_bias=False, o_bias=False, norms=2, qk_norms=qk
    )
    # 20 tokens: 2 global layers keep all 20, 6 window layers their last 8.
    per_layer = 2 * 2 * 4 * 2
    assert kv_bytes_per_token(spec, 20) == (2 * 20 + 6 * 8) * per_layer


def test_exaone4_letter_pattern_without_layer_types_is_refused() -> None:
    config = dict(TOY, model_type="exaone4", sliding_window=8, sliding_window_pattern="LLLG")
    assert "sliding_window_pattern='LLLG' without layer_types is not supported" in refused(config)
    types = ["sliding_attention", "full_attention"] * 4
    no_window = dict(TOY, model_type="exaone4", sliding_window=None, layer_types=types)
    assert "sliding_window=None with 4 sliding_attention layers" in refused(no_window)


def test_cohere2_parallel_block_windows_and_tied_embeddings() -> None:
    config = dict(TOY, model_type="cohere2", sliding_window=8, sliding_window_pattern=4)
    spec = spec_from_config(config)
    assert (spec.parallel_block, spec.norms_per_block, spec.tied_embeddings) == (True, 1, True)
    assert (spec.norm, spec.norm_bias) == ("layernorm", False)
    assert (spec.sliding_window, spec.window_layers) == (8, 6)
    graph = build_graph(spec, AnalysisOptions())
    names = [op.name for op in graph.operators if op.scope == "block"]
    assert "mlp_norm" not in names and "residual_add" in names
    # One LayerNorm (gain only) per layer; embedding and head share one matrix.
    ours = graph.params()
    tied = dict(config, tie_word_embeddings=True)
    assert ours == dense_params(tied, qkv_bias=False, o_bias=False, norms=1)
    per_layer = 2 * 2 * 4 * 2
    assert kv_bytes_per_token(spec, 20) == (2 * 20 + 6 * 8) * per_layer


def test_cohere2_unknown_layer_type_is_refused() -> None:
    config = dict(TOY, model_type="cohere2", layer_types=["global_attention"] * 8)
    assert "layer_types holds ['global_attention']" in refused(config)


# --- SmolLM3 ---------------------------------------------------------------------------------

SMOLLM3 = "HuggingFaceTB/SmolLM3-3B"


def test_smollm3_is_llamas_block_with_tied_embeddings() -> None:
    """NoPE layers add no parameter and no cost: the count is Llama's, tied, every layer
    caching K and V."""
    config = bundled_config(SMOLLM3)
    spec = load_model(SMOLLM3)
    assert spec.tied_embeddings and spec.sliding_window is None and not spec.is_hybrid
    ours = build_graph(spec, AnalysisOptions()).params()
    assert ours == dense_params(config, qkv_bias=False, o_bias=False, norms=2)
    # 262,668,288 tied embedding + 36 x 78,123,008 + the final norm (transformers: the same).
    assert ours == 3_075_098_624
    assert kv_bytes_per_token(spec) == kv_by_hand(config) == 36 * 2 * 4 * 128 * 2


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("no_rope_layers", [1, 1, 1, 0], "expected 0 (NoPE) or 1 (RoPE) for each of the 36"),
        ("no_rope_layer_interval", 0, "no_rope_layer_interval=0"),
        ("use_sliding_window", True, "use_sliding_window=True is not supported"),
    ],
)
def test_smollm3_malformed_schedules_and_windows_are_refused(field, value, words) -> None:
    assert words in refused(mutated(SMOLLM3, field, value))


def test_smollm3_explicit_schedule_is_read() -> None:
    schedule = [int((i + 1) % 4 != 0) for i in range(36)]
    spec = spec_from_config(mutated(SMOLLM3, "no_rope_layers", schedule))
    assert spec == spec_from_config(bundled_config(SMOLLM3)).model_copy(update={"name": spec.name})


# --- ERNIE 4.5, Hunyuan dense, Apertus, Ministral 3 (toy configs, counted by hand) -----------


def test_ernie4_5_use_bias_is_refused_as_vllm_builds_no_bias() -> None:
    # transformers biases every projection where use_bias; vLLM's Ernie4_5ForCausalLM (its
    # LlamaForCausalLM) never reads the key: the builds differ, so a true one is refused.
    config = dict(TOY, model_type="ernie4_5", head_dim=8, use_bias=True)
    assert "use_bias=True is not supported; supported: false" in refused(config)
    spec = spec_from_config(dict(config, use_bias=False))
    assert (spec.qkv_bias, spec.out_bias, spec.mlp_bias, spec.lm_head_bias) == (
        False, False, False, False,
    )  # fmt: skip
    # Ernie4_5Config ties the embeddings by default.
    assert spec.tied_embeddings and spec.max_positions == 256
    tied = dict(config, tie_word_embeddings=True)
    assert build_graph(spec, AnalysisOptions()).params() == dense_params(
        tied, qkv_bias=False, o_bias=False, norms=2
    )
    # 8 layers x K and V x 2 KV heads x 8 x 2 bytes.
    assert kv_bytes_per_token(spec) == kv_by_hand(config) == 8 * 2 * 2 * 8 * 2


def test_ernie4_5_omitted_head_dim_and_kv_heads_are_its_class_defaults() -> None:
    # Ernie4_5Config: head_dim 128 and 2 KV heads where absent, not hidden_size / heads.
    config = {k: v for k, v in TOY.items() if k != "num_key_value_heads"}
    spec = spec_from_config(dict(config, model_type="ernie4_5"))
    assert (spec.head_dim, spec.num_kv_heads) == (128, 2)
    by_hand = dict(config, head_dim=128, num_key_value_heads=2, tie_word_embeddings=True)
    assert build_graph(spec, AnalysisOptions()).params() == dense_params(
        by_hand, qkv_bias=False, o_bias=False, norms=2
    )
    assert kv_bytes_per_token(spec) == 8 * 2 * 2 * 128 * 2
    # Written as null, each falls back as Ernie4_5Config.__post_init__ does.
    nulls = dict(TOY, model_type="ernie4_5", head_dim=None, num_key_value_heads=None)
    assert (spec_from_config(nulls).head_dim, spec_from_config(nulls).num_kv_heads) == (4, 4)


def test_ernie4_5_malformed_bias_flag_is_refused() -> None:
    config = dict(TOY, model_type="ernie4_5", use_bias="true")
    assert "use_bias='true' is invalid: expected true or false" in refused(config)


def test_hunyuan_dense_has_per_head_qk_norms_and_no_mlp_bias() -> None:
    config = dict(
        TOY,
        model_type="hunyuan_v1_dense",
        attention_head_dim=8,
        attention_bias=True,
        mlp_bias=True,
        use_qk_norm=True,
    )
    spec = spec_from_config(config)
    # Tencent's attention_head_dim stands for head_dim; HunYuanDenseV1MLP has no bias.
    assert spec.head_dim == 8 and spec.qk_norm and not spec.qk_norm_whole
    assert (spec.qkv_bias, spec.out_bias, spec.mlp_bias) == (True, True, False)
    by_hand = dict(config, head_dim=8)
    assert build_graph(spec, AnalysisOptions()).params() == dense_params(
        by_hand, qkv_bias=True, o_bias=True, norms=2, qk_norms=2 * 8
    )
    assert kv_bytes_per_token(spec) == kv_by_hand(by_hand) == 8 * 2 * 2 * 8 * 2


@pytest.mark.parametrize("field", ["use_cla", "use_mla"])
def test_hunyuan_dense_cross_layer_and_latent_attention_are_refused(field: str) -> None:
    config = dict(TOY, model_type="hunyuan_v1_dense", **{field: True})
    assert f"{field}=True is not supported; supported: false" in refused(config)


def test_apertus_mlp_is_not_gated_and_its_xielu_learns_two_scalars() -> None:
    config = dict(TOY, model_type="apertus")
    spec = spec_from_config(config)
    assert (spec.activation, spec.gated_mlp, spec.mlp_bias) == ("xielu", False, False)
    assert spec.qk_norm and not spec.qk_norm_whole and spec.max_positions == 256
    h, d, vocab, width = 16, 4, 64, 24
    attention = 2 * h * 4 * d + 2 * h * 2 * d
    # up and down (no gate), the two norms, per-head q/k norms, xIELU's alpha_p and alpha_n.
    layer = attention + 2 * h * width + 2 * h + 2 * d + 2
    graph = build_graph(spec, AnalysisOptions())
    assert graph.params() == 8 * layer + h + 2 * vocab * h
    (act,) = [op for op in graph.operators if op.name == "mlp_act"]
    assert (act.function, act.gated, act.params()) == ("xielu", False, 2)
    assert "gate_proj" not in [op.name for op in graph.operators]
    assert kv_bytes_per_token(spec) == kv_by_hand(config) == 8 * 2 * 2 * 4 * 2


def test_apertus_mlp_bias_and_unknown_activations_are_refused() -> None:
    # transformers' ApertusMLP ignores mlp_bias, vLLM's builds the biases: not known which.
    bias = dict(TOY, model_type="apertus", mlp_bias=True)
    assert "mlp_bias=True is not supported; supported: false" in refused(bias)
    unknown = dict(TOY, model_type="apertus", hidden_act="xielu2")
    assert "activation_function)='xielu2' is invalid: expected one of" in refused(unknown)


def test_ministral3_is_mistrals_block_with_its_own_defaults() -> None:
    config = dict(TOY, model_type="ministral3", head_dim=8, sliding_window=32)
    spec = spec_from_config(config)
    assert (spec.qkv_bias, spec.out_bias, spec.mlp_bias, spec.tied_embeddings) == (
        False, False, False, False,
    )  # fmt: skip
    # Every layer attends to the window (MistralAttention passes it to all of them).
    assert (spec.sliding_window, spec.window_layers) == (32, None)
    assert build_graph(spec, AnalysisOptions()).params() == dense_params(
        config, qkv_bias=False, o_bias=False, norms=2
    )
    # 100 tokens: every layer keeps its last 32.
    assert kv_bytes_per_token(spec, 100) == 8 * 32 * 2 * 2 * 8 * 2
    # Omitted: Ministral3Config's head_dim 128, 8 KV heads, 262,144 positions.
    omitted = ("num_key_value_heads", "max_position_embeddings")
    eight = {k: v for k, v in TOY.items() if k not in omitted} | {"num_attention_heads": 8}
    spec = spec_from_config(dict(eight, model_type="ministral3"))
    assert (spec.head_dim, spec.num_kv_heads, spec.max_positions) == (128, 8, 262144)
    assert kv_bytes_per_token(spec) == 8 * 2 * 8 * 128 * 2


def test_ministral3_defaults_and_biases_are_refused_where_they_do_not_fit() -> None:
    # TOY's 4 heads cannot share Ministral3Config's default 8 KV heads.
    no_kv = {k: v for k, v in TOY.items() if k != "num_key_value_heads"}
    message = refused(dict(no_kv, model_type="ministral3"))
    assert "num_attention_heads=4 must be a multiple of num_key_value_heads=8" in message
    bias = dict(TOY, model_type="ministral3", attention_bias=True)
    assert "attention_bias=True is not supported; supported: false" in refused(bias)


def test_mistral3_reads_a_ministral3_language_model_with_its_defaults() -> None:
    model = "mistralai/Mistral-Small-3.2-24B-Instruct-2506"
    config = mutated(model, "text_config.model_type", "ministral3")
    del config["text_config"]["head_dim"]
    spec = spec_from_config(config)
    # Ministral3Config's head_dim 128 where absent; read as Mistral, 5120 / 32 = 160.
    assert (spec.model_type, spec.head_dim, spec.num_kv_heads) == ("mistral3", 128, 8)
    assert spec.vision is not None
    as_mistral = mutated(model, "text_config.model_type", "mistral")
    del as_mistral["text_config"]["head_dim"]
    assert spec_from_config(as_mistral).head_dim == 160
    # With the published head_dim, both read the same language model.
    published = spec_from_config(bundled_config(model))
    ministral = spec_from_config(mutated(model, "text_config.model_type", "ministral3"))
    assert ministral.model_dump(exclude={"max_positions"}) == published.model_dump(
        exclude={"max_positions"}
    )
