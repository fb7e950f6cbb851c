"""Recurrent mixers and hybrid layer patterns: hand-computed toys, the fixed state in memory and
in the simulator, and the bundled hybrids."""

from __future__ import annotations

import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import InvalidInputError, ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes, state_bytes
from rooflens.core.mixers import CausalConv, Mixer, StateScan
from rooflens.core.model import ModelSpec
from rooflens.core.operators import Precision, Step
from rooflens.core.options import Parallelism, Quantization
from rooflens.models import bundled_models, load_model, spec_from_config
from rooflens.serving import Requests, run

HYBRIDS = sorted(
    i for i in bundled_models() if load_model(i).mixer is not None or load_model(i).is_hybrid
)
PREC = Precision(Quantization())

# Mamba2 toy: hidden 8, 2 heads of 4, one group, state 4, conv 4 (with bias), chunk 64.
MAMBA2 = Mixer(
    kind="mamba2", num_heads=2, head_dim=4, num_key_heads=1, key_dim=4, conv_kernel=4,
    chunk_size=64, conv_bias=True,
)  # fmt: skip
# Gated DeltaNet toy: one key head of 4 shared by two value heads of 4, conv 4, chunk 64.
GDN = Mixer(
    kind="gated_deltanet", num_heads=2, head_dim=4, num_key_heads=1, key_dim=4, conv_kernel=4,
    chunk_size=64,
)  # fmt: skip


def pure_ssm(mixer: Mixer, layers: int = 1) -> ModelSpec:
    """Only mixer layers: no attention, no MLP (as Mamba2 language models)."""
    return ModelSpec(
        name="toy-ssm",
        model_type="toy",
        num_layers=layers,
        hidden_size=8,
        num_heads=2,
        num_kv_heads=1,
        head_dim=4,
        intermediate_size=16,
        vocab_size=16,
        max_positions=1 << 20,
        tied_embeddings=False,
        gated_mlp=True,
        activation="silu",
        norm="rmsnorm",
        mixer=mixer,
        mixer_layers=layers,
        attention_layers=0,
        mlp_layers=0,
    )


def op(graph, name):
    return next(o for o in graph.operators if o.name == name)


# -- parameters --------------------------------------------------------------------------------


def test_mamba2_toy_parameters_by_hand() -> None:
    # in_proj 8 x (z 8 + xBC 16 + dt 2) = 208; conv 16 channels x 4 taps + 16 biases = 80;
    # A_log, D, dt_bias per head = 6; gated norm 8; out_proj 8 x 8 = 64; layer norm 8.
    layer = 208 + 80 + 6 + 8 + 64 + 8
    # Embedding and head 16 x 8 each, final norm 8.
    assert build_graph(pure_ssm(MAMBA2), AnalysisOptions()).params() == layer + 128 + 128 + 8
    assert build_graph(pure_ssm(MAMBA2, 3), AnalysisOptions()).params() == 3 * layer + 264


def test_gated_deltanet_toy_parameters_by_hand() -> None:
    # in_proj 8 x (q 4 + k 4 + v 8 + z 8 + beta 2 + a 2) = 224; conv (4 + 4 + 8) x 4 = 64;
    # A_log, dt_bias per value head = 4; norm over a head 4; out_proj 64; layer norm 8.
    layer = 224 + 64 + 4 + 4 + 64 + 8
    assert build_graph(pure_ssm(GDN), AnalysisOptions()).params() == layer + 264


def test_mamba1_kda_and_lightning_parameters_by_hand() -> None:
    # Mamba1 (Jamba): d_inner 16, d_state 4, dt rank 2. in_proj 8 x 32, conv 16 x 4 + 16,
    # x_proj 16 x (2 + 8), dt/B/C norms 2 + 4 + 4, dt_proj 2 x 16 + 16, A_log 16 x 4 + D 16,
    # out_proj 16 x 8.
    mamba1 = Mixer(
        kind="mamba1", num_heads=16, head_dim=1, num_key_heads=1, key_dim=4, conv_kernel=4,
        low_rank=2, conv_bias=True, out_norm=False, inner_norms=True,
    )  # fmt: skip
    layer = 256 + 80 + 160 + 10 + 48 + 80 + 128 + 8
    assert build_graph(pure_ssm(mamba1), AnalysisOptions()).params() == layer + 264
    # KDA: 2 heads of 4, gate rank 4. q/k/v 8 x 24, beta 8 x 2, decay 8x4 + 4x8, gate 8x4 + 4x8,
    # conv 24 x 4, A_log 2 + dt_bias 8, norm 4, o_proj 64.
    kda = Mixer(
        kind="kda", num_heads=2, head_dim=4, num_key_heads=2, key_dim=4, conv_kernel=4, low_rank=4
    )
    layer = 192 + 16 + 64 + 64 + 96 + 10 + 4 + 64 + 8
    assert build_graph(pure_ssm(kda), AnalysisOptions()).params() == layer + 264
    # Lightning (MiniMax): qkv 8 x 24, output gate 8 x 8, norm 8, out_proj 64; no conv.
    lightning = Mixer(kind="lightning", num_heads=2, head_dim=4, num_key_heads=2, key_dim=4)
    layer = 192 + 64 + 8 + 64 + 8
    assert build_graph(pure_ssm(lightning), AnalysisOptions()).params() == layer + 264


# -- prefill and decode ------------------------------------------------------------------------


def test_mamba2_scan_prefill_ops_are_the_chunked_ssd_form() -> None:
    scan = op(build_graph(pure_ssm(MAMBA2), AnalysisOptions()), "mixer_scan")
    prefill = Step(batch=np.array(3.0), new_tokens=np.array(256.0), past=np.array(0.0))
    # Per token: C B^T 2*64*4 = 512 (one group); per head 64 (mask) + 2*64*4 (L.CB^T X) +
    # 4*4*4 (chunk state and its read-out) = 640, two heads.
    assert float(scan.cost(prefill, PREC).ops) == 3 * 256 * (512 + 2 * 640)
    # No state comes in; the final one (2 heads x 4 x 4 at 2 bytes) goes out.
    assert float(scan.cost(prefill, PREC).load_kv) == 0
    assert float(scan.cost(prefill, PREC).store_kv) == 3 * 64
    # A prompt shorter than a chunk is one chunk of its own length.
    short = Step(batch=np.array(1.0), new_tokens=np.array(8.0), past=np.array(0.0))
    assert float(scan.cost(short, PREC).ops) == 8 * (2 * 8 * 4 + 2 * (8 + 2 * 8 * 4 + 64))


def test_gated_deltanet_prefill_ops_are_the_chunkwise_wy_form() -> None:
    scan = op(build_graph(pure_ssm(GDN), AnalysisOptions()), "mixer_scan")
    prefill = Step(batch=np.array(1.0), new_tokens=np.array(128.0), past=np.array(0.0))
    # Per token and value head: QK^T, KK^T, W = TK at 2*64*4 each, the triangular solve
    # 64^2/3, U = TV and the intra-chunk output at 2*64*4 each, W S, Q S, K^T U at 2*4*4 each.
    per_head = 3 * 512 + 64**2 / 3 + 2 * 512 + 3 * 32
    assert float(scan.cost(prefill, PREC).ops) == pytest.approx(128 * 2 * per_head)


@pytest.mark.parametrize(("mixer", "per_element"), [(MAMBA2, 5), (GDN, 7)])
def test_decode_reads_and_writes_the_state_once(mixer: Mixer, per_element: int) -> None:
    graph = build_graph(pure_ssm(mixer), AnalysisOptions())
    decode = Step(batch=np.array(4.0), new_tokens=np.array(1.0), past=np.array([10.0, 1e5]))
    scan, conv = op(graph, "mixer_scan"), op(graph, "mixer_conv")
    assert isinstance(scan, StateScan) and isinstance(conv, CausalConv)
    # 2 heads x 4 x 4 state at 2 bytes, and 16 conv channels x 3 past inputs at 2 bytes.
    np.testing.assert_array_equal(scan.cost(decode, PREC).load_kv, 4 * 64)
    np.testing.assert_array_equal(scan.cost(decode, PREC).store_kv, 4 * 64)
    np.testing.assert_array_equal(conv.cost(decode, PREC).load_kv, 4 * 96)
    np.testing.assert_array_equal(conv.cost(decode, PREC).store_kv, 4 * 96)
    np.testing.assert_array_equal(scan.cost(decode, PREC).ops, 4 * per_element * 32)


def test_a_declared_state_width_sizes_the_state() -> None:
    wide = MAMBA2.model_copy(update={"state_bits": 32})
    assert wide.state_bytes(16) == 32 * 4 + 96
    assert state_bytes(pure_ssm(wide, 2), Quantization()) == 2 * (32 * 4 + 96)


# -- memory ------------------------------------------------------------------------------------


def test_a_pure_ssm_holds_the_same_memory_at_any_context() -> None:
    model = pure_ssm(MAMBA2, 2)
    a = rooflens.analyze(
        model, "h100-sxm", batch=3, prompt_len=np.array([10, 1000, 100000]), gen_len=5
    )
    for phase in ("prefill", "decode", "generation"):
        # Two layers x (64 B of state + 96 B of conv window) per sequence.
        np.testing.assert_array_equal(a.memory[phase].kv_cache, 3 * 2 * 160)
    time = a.steps["decode"].step_time()
    assert np.allclose(time, time[0])


def test_a_hybrid_caches_keys_only_in_its_attention_layers() -> None:
    config = {
        "model_type": "qwen3_next",
        "hidden_size": 64,
        "num_hidden_layers": 8,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "intermediate_size": 128,
        "vocab_size": 100,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 32,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
        "max_position_embeddings": 1 << 20,
    }
    model = spec_from_config(config)
    assert (model.attention_layers, model.mixer_layers) == (2, 6)
    quant, spans = Quantization(), kv_spans(model, AnalysisOptions())
    assert spans == ((0.25, None),)
    small, large = (
        kv_cache_bytes(model, quant, np.array(2), np.array(s), spans) for s in (100, 1100)
    )
    # 1000 more tokens in 2 attention layers of 2 KV heads x 16 x (K, V) at 2 bytes, 2 sequences.
    assert float(large - small) == 2 * 1000 * 2 * (2 * 2 * 16) * 2
    # The rest is 6 layers' fixed state: 4 heads x 16 x 16 and (16+16+... conv) 3 inputs.
    conv = (2 * 32 + 64) * 3 * 2
    assert float(small) == 2 * (100 * 2 * 128 + 6 * (4 * 16 * 16 * 2 + conv))
    # The decode step grows only through those attention layers.
    a = rooflens.analyze(model, "h100-sxm", prompt_len=np.array([100, 1000, 10000, 100000]))
    assert np.all(np.diff(a.steps["decode"].step_time()) >= 0)


# -- layer patterns ----------------------------------------------------------------------------


def test_layer_patterns_count_each_kind_of_layer() -> None:
    nemotron = load_model("nvidia/Nemotron-H-8B-Base-8K")
    assert (nemotron.mixer_layers, nemotron.attention_layers, nemotron.mlp_layers) == (24, 4, 24)
    graph = build_graph(nemotron, AnalysisOptions())
    assert graph.count(op(graph, "mixer_scan")) == 24
    assert graph.count(op(graph, "q_proj")) == 4
    assert graph.count(op(graph, "up_proj")) == 24
    # One norm and one residual add per layer, whatever it holds.
    assert graph.count(op(graph, "attn_norm")) + graph.count(op(graph, "mlp_norm")) == 52
    qwen = load_model("Qwen/Qwen3-Next-80B-A3B-Instruct")
    assert (qwen.mixer_layers, qwen.attention_layers) == (36, 12)
    jamba = load_model("ai21labs/Jamba-v0.1")
    # Attention at layers 4, 12, 20, 28; MoE at every odd layer.
    assert (jamba.mixer_layers, jamba.attention_layers, jamba.dense_layers) == (28, 4, 16)
    minimax = load_model("MiniMaxAI/MiniMax-Text-01")
    assert (minimax.mixer_layers, minimax.attention_layers) == (70, 10)
    kimi = load_model("moonshotai/Kimi-Linear-48B-A3B-Instruct")
    # KDA in 20 layers, MLA in 7 (layers 4, 8, ..., 24, 27), the first layer's MLP dense.
    assert (kimi.mixer_layers, kimi.attention_layers, kimi.dense_layers) == (20, 7, 1)
    assert kimi.is_mla
    falcon = load_model("tiiuae/Falcon-H1-0.5B-Base")
    graph = build_graph(falcon, AnalysisOptions())
    # Side by side: attention and Mamba2 in each of the 36 layers, one three-way add.
    assert graph.count(op(graph, "mixer_scan")) == graph.count(op(graph, "q_proj")) == 36
    assert op(graph, "attn_add").inputs == ("x", "attn_out", "mix_out")


def test_tensor_parallelism_splits_the_mixer_heads_and_the_state() -> None:
    model = load_model("nvidia/Nemotron-H-8B-Base-8K")
    one = rooflens.analyze(model, "h100-sxm", prompt_len=1000)
    two = rooflens.analyze(model, "h100-sxm", prompt_len=1000, tp=2)
    assert float(two.memory["decode"].kv_cache) == pytest.approx(
        float(one.memory["decode"].kv_cache) / 2
    )
    graph = build_graph(model, AnalysisOptions(parallelism=Parallelism(tp=2, link_bandwidth=1e11)))
    assert any(o.name == "mixer_out_proj_all_reduce" for o in graph.operators)


def test_pipeline_stages_hold_their_share_of_each_kind_of_layer() -> None:
    model = load_model("Qwen/Qwen3-Next-80B-A3B-Instruct")
    stage = build_graph(model, AnalysisOptions(parallelism=Parallelism(pp=2)))
    # 48 layers over 2 stages: 18 of the 36 Gated DeltaNet layers, 6 of the 12 attention ones.
    assert stage.count(op(stage, "mixer_scan")) == 18
    assert stage.count(op(stage, "q_proj")) == 6
    assert stage.count(op(stage, "attn_norm")) == 24
    falcon = load_model("tiiuae/Falcon-H1-0.5B-Base")
    stage = build_graph(falcon, AnalysisOptions(parallelism=Parallelism(pp=2)))
    assert stage.count(op(stage, "mixer_scan")) == stage.count(op(stage, "q_proj")) == 18
    one = rooflens.analyze(model, "h100-sxm", prompt_len=1000)
    two = rooflens.analyze(model, "h100-sxm", prompt_len=1000, pp=2)
    assert float(two.memory["decode"].kv_cache) == pytest.approx(
        float(one.memory["decode"].kv_cache) / 2
    )


def test_bad_hybrid_inputs_name_the_field() -> None:
    config = {
        "model_type": "nemotron_h",
        "hybrid_override_pattern": "M*X",
        "num_hidden_layers": 3,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "vocab_size": 100,
        "mamba_num_heads": 4,
        "mamba_head_dim": 16,
    }
    with pytest.raises(ModelConfigError, match="hybrid_override_pattern"):
        spec_from_config(config)
    with pytest.raises(ModelConfigError, match="3 entries for num_hidden_layers=4"):
        spec_from_config(config | {"hybrid_override_pattern": "M*-", "num_hidden_layers": 4})
    with pytest.raises(InvalidInputError, match="tp"):
        rooflens.analyze(pure_ssm(MAMBA2), "h100-sxm", tp=4)
    with pytest.raises(InvalidInputError, match="prune_depth"):
        pure_ssm(MAMBA2, 2).pruned(depth=0.5)


# -- the simulator -----------------------------------------------------------------------------


def test_the_simulator_allocates_the_state_once_per_request(tiny_model, toy_device) -> None:
    # tiny_model: 2 layers of 2 KV heads x 16, 256 B of KV per token. Make one layer Mamba2
    # with 4 heads of 16 x 16 state (2048 B) and a 96-channel conv window (576 B): 10.25 tokens.
    mixer = Mixer(kind="mamba2", num_heads=4, head_dim=16, num_key_heads=1, key_dim=16,
                  conv_kernel=4)  # fmt: skip
    hybrid = tiny_model.model_copy(
        update={"mixer": mixer, "mixer_layers": 1, "attention_layers": 1}
    )
    burst = Requests(np.zeros(3), np.full(3, 250), np.full(3, 51), 0)
    result = run(hybrid, toy_device, AnalysisOptions(), burst)
    # Each request: half the layers cache 300 tokens, plus its state: 160.25 -> 161 -> 176 in
    # blocks of 16, three at once.
    assert result.timeline["kv_tokens"].max() == 3 * 176
    lone = run(
        hybrid,
        toy_device,
        AnalysisOptions(),
        Requests(np.zeros(1), np.array([250]), np.array([51]), 0),
    )
    assert lone.timeline["kv_tokens"].max() == 176


def test_simulate_serves_a_bundled_hybrid() -> None:
    burst = Requests(np.zeros(4), np.full(4, 512), np.full(4, 16), 0)
    result = rooflens.simulate("tiiuae/Falcon-H1-0.5B-Base", "h100-sxm", burst)
    assert len(result.requests) == 4
    assert result.requests["ttft"].notna().all()


# -- the catalog -------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", HYBRIDS)
def test_every_bundled_hybrid_analyses(model_id: str) -> None:
    a = rooflens.analyze(
        model_id, "h200-sxm", batch=2, prompt_len=np.array([512, 4096]), gen_len=64
    )
    for phase in ("prefill", "decode"):
        assert np.all(a.steps[phase].step_time() > 0)
    assert np.all(a.generation["tpot"] > 0)
    assert np.all(a.memory["generation"].kv_cache > 0)
    assert np.all(np.diff(a.steps["decode"].step_time()) >= 0)


def test_a_narrow_kv_cache_leaves_the_recurrent_state_at_16_bits() -> None:
    """Qwen3-Next (no state dtype declared): --kv-bits 8 halves its attention layers' cache,
    not its Gated DeltaNet states, which neither engine narrows with --kv-cache-dtype; the
    per-sequence bytes by hand at 1,024 tokens on one device: 12 attention layers x (2 x 2
    KV heads x 256) x 1,024 tokens at 1 byte, plus 36 layers x (32 x 128 x 128 state + 8,192
    x 3 conv inputs) at 2 bytes."""
    from rooflens import api

    res = api.analyze("Qwen/Qwen3-Next-80B-A3B-Instruct", "h200-sxm", prompt_len=1024,
                      gen_len=None, kv_bits=8)  # fmt: skip
    attention = 12 * 2 * 2 * 256 * 1024
    states = 36 * (32 * 128 * 128 + 8192 * 3) * 2
    assert float(res.memory["prefill"].kv_cache) == attention + states
    wide = api.analyze("Qwen/Qwen3-Next-80B-A3B-Instruct", "h200-sxm", prompt_len=1024,
                       gen_len=None, kv_bits=32)  # fmt: skip
    assert float(wide.memory["prefill"].kv_cache) == 4 * attention + 2 * states
