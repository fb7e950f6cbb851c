"""Tensor, pipeline and data parallelism, by hand on the tiny model (hidden 64, 4 heads,
2 KV heads, head_dim 16, intermediate 128, vocab 100, 2 layers), fp16."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rooflens
from rooflens.core import AnalysisOptions, InvalidInputError, analyze, build_graph
from rooflens.core.options import Parallelism

LINK = dict(link_bandwidth=100e9, link_latency=2e-6)


def _opts(**par) -> AnalysisOptions:
    return AnalysisOptions(parallelism=Parallelism(**{**LINK, **par}))


def _rows(model, device, **par) -> dict:
    frame = analyze(model, device, batch=2, prompt_len=8, options=_opts(**par)).operators()
    return {(r["stage"], r["name"]): r for r in frame.to_dict(orient="records")}


def test_tensor_parallel_shards_heads_width_and_vocabulary(tiny_model, toy_device) -> None:
    rows = _rows(tiny_model, toy_device, tp=2)
    assert rows[("prefill", "q_proj")]["ops"] == 2 * 16 * 64 * 32  # 2 of 4 heads
    assert rows[("prefill", "k_proj")]["store_kv"] == 16 * 16 * 2  # 1 of 2 KV heads
    assert rows[("prefill", "gate_proj")]["load_weight"] == 64 * 64 * 2  # half the width
    assert rows[("prefill", "down_proj")]["load_weight"] == 64 * 64 * 2
    assert rows[("prefill", "lm_head")]["load_weight"] == 64 * 50 * 2  # half the vocabulary
    assert rows[("prefill", "attn_norm")]["load_weight"] == 64 * 2  # replicated


def test_ring_all_reduce_and_all_gather_times(tiny_model, toy_device) -> None:
    rows = _rows(tiny_model, toy_device, tp=2)
    # 16 tokens x 64 x 2 bytes = 2048 B; ring all-reduce over 2: 2(p-1)/p of it in 2 steps.
    reduce = rows[("prefill", "o_proj_all_reduce")]
    assert reduce["time"] == pytest.approx(2048 * 1 / 100e9 + 2 * 2e-6)
    assert reduce["bound"] == "link" and reduce["count"] == 2
    assert rows[("prefill", "down_proj_all_reduce")]["time"] == reduce["time"]
    # Logits of the 2 last tokens, 100 x 2 bytes each: (p-1)/p of 400 B in one step.
    gather = rows[("prefill", "lm_head_all_gather")]
    assert gather["time"] == pytest.approx(200 / 100e9 + 2e-6)
    assert ("prefill", "embed_tokens_all_reduce") in rows


def test_whole_projection_qk_norms_all_reduce_their_statistics(tiny_model, toy_device) -> None:
    """MiniMax-M2's q/k norms span every head: under TP each device all-reduces its two sums
    of squares (FP32) per token, 16 tokens x 2 x 4 bytes = 128 B over 2 devices in 2 steps;
    per-head norms (Qwen3) and a single device need none."""
    whole = tiny_model.model_copy(update={"qk_norm": True, "qk_norm_whole": True})
    rows = _rows(whole, toy_device, tp=2)
    statistics = rows[("prefill", "qk_norm_all_reduce")]
    assert statistics["time"] == pytest.approx(128 * 1 / 100e9 + 2 * 2e-6)
    assert statistics["count"] == 2
    per_head = tiny_model.model_copy(update={"qk_norm": True})
    assert ("prefill", "qk_norm_all_reduce") not in _rows(per_head, toy_device, tp=2)
    assert ("prefill", "qk_norm_all_reduce") not in _rows(whole, toy_device, tp=1)


def test_olmo_qk_norms_gather_q_and_k_whole(tiny_model, toy_device) -> None:
    """OLMo's q/k norms under TP (vLLM's and SGLang's _apply_qk_norm): each device gathers
    q (4 heads x 16) and k (2 KV heads x 16) whole, norms them whole and keeps its share.
    16 tokens x 64 x 2 bytes of q over 2 devices: (p-1)/p of 2048 B in one step."""
    olmo = tiny_model.model_copy(
        update={"qk_norm": True, "qk_norm_whole": True, "qk_norm_gathered": True}
    )
    rows = _rows(olmo, toy_device, tp=2)
    assert ("prefill", "qk_norm_all_reduce") not in rows
    assert rows[("prefill", "q_all_gather")]["time"] == pytest.approx(1024 / 100e9 + 2e-6)
    assert rows[("prefill", "k_all_gather")]["time"] == pytest.approx(512 / 100e9 + 2e-6)
    # Every device norms the whole of q and k: the weights of all their channels, replicated.
    assert rows[("prefill", "q_norm")]["load_weight"] == 64 * 2
    assert rows[("prefill", "k_norm")]["load_weight"] == 32 * 2
    names = [op.name for op in build_graph(olmo, _opts(tp=2), toy_device).operators]
    assert names.index("q_all_gather") + 1 == names.index("q_norm")
    single = _rows(olmo, toy_device, tp=1)
    assert ("prefill", "q_all_gather") not in single
    assert single[("prefill", "q_norm")]["load_weight"] == 64 * 2
    assert rooflens.load_model("allenai/OLMo-2-1124-13B").qk_norm_gathered
    assert not rooflens.load_model("MiniMaxAI/MiniMax-M2").qk_norm_gathered


def test_parallel_blocks_reduce_as_the_engines_run_them(toy_device) -> None:
    # vLLM's Falcon (and Command R) all-reduce the parallel block's sum once ...
    falcon = rooflens.load_model("tiiuae/falcon-40b")
    assert falcon.parallel_block and not falcon.parallel_reduce_each
    names = [op.name for op in build_graph(falcon, _opts(tp=4), toy_device).operators]
    assert "o_proj_all_reduce" not in names and names.count("down_proj_all_reduce") == 1
    # ... vLLM's GPT-J (two RowParallelLinear) and its Transformers backend (GPT-NeoX's
    # rowwise dense and dense_4h_to_h) reduce attention's and the MLP's outputs each.
    for model_id in ("EleutherAI/gpt-j-6b", "EleutherAI/gpt-neox-20b"):
        model = rooflens.load_model(model_id)
        ops = {op.name: op for op in build_graph(model, _opts(tp=4), toy_device).operators}
        assert {"o_proj_all_reduce", "down_proj_all_reduce"} <= set(ops)
        # The same message: one hidden vector per token.
        assert ops["o_proj_all_reduce"].width == ops["down_proj_all_reduce"].width
        assert ops["o_proj_all_reduce"].width == model.hidden_size


def test_memory_per_device_and_model_parameters(tiny_model, toy_device) -> None:
    one = analyze(tiny_model, toy_device, batch=2, prompt_len=8)
    two = analyze(tiny_model, toy_device, batch=2, prompt_len=8, options=_opts(tp=2))
    assert two.params == one.params  # the model, not the shard
    assert two.memory["prefill"].kv_cache == one.memory["prefill"].kv_cache / 2
    per_layer = (2048 + 1024 + 1024 + 2048 + 3 * 4096) + 2 * 64  # sharded linears + norms
    assert two.memory["prefill"].weights == 2 * (3200 + 2 * per_layer + 64 + 3200)


def test_tensor_parallelism_needs_divisible_heads(tiny_model, toy_device) -> None:
    with pytest.raises(InvalidInputError, match="tp=3"):
        analyze(tiny_model, toy_device, options=_opts(tp=3))
    quad = analyze(tiny_model, toy_device, options=_opts(tp=4))  # KV heads replicated
    rows = quad.operators()
    k = rows[(rows.stage == "decode") & (rows.name == "k_proj")].iloc[0]
    assert k.store_kv == 16 * 2  # one KV head of 16 per device


def test_pipeline_slots_and_send(tiny_model, toy_device) -> None:
    base = analyze(tiny_model, toy_device, batch=8, prompt_len=8, options=_opts(micro_batches=4))
    piped = analyze(
        tiny_model, toy_device, batch=8, prompt_len=8, options=_opts(pp=2, micro_batches=4)
    )
    step = piped.steps["prefill"]
    assert step.num_layers == 1 and step.pipeline_slots == 4 + 2 - 1
    send = 2 * 8 * 64 * 2 / 100e9 + 2e-6  # a micro-batch of 2 sequences x 8 tokens
    expected = 5 * (float(step.total(step.time)) + send)
    assert piped.totals()["prefill"]["time"] == pytest.approx(expected)
    assert piped.memory["prefill"].kv_cache == base.memory["prefill"].kv_cache / 2
    with pytest.raises(InvalidInputError, match="micro_batches"):
        analyze(tiny_model, toy_device, batch=6, options=_opts(micro_batches=4))


def test_data_parallel_replicas_multiply_throughput(tiny_model, toy_device) -> None:
    one = analyze(tiny_model, toy_device, batch=4, prompt_len=64, gen_len=32)
    four = analyze(tiny_model, toy_device, batch=4, prompt_len=64, gen_len=32, options=_opts(dp=4))
    assert four.generation["throughput"] == pytest.approx(4 * one.generation["throughput"])
    assert four.generation["e2e_latency"] == pytest.approx(one.generation["e2e_latency"])


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.integers(1, 64), st.integers(16, 2048), st.floats(1.5, 20))
def test_a_faster_link_never_slows_tensor_parallelism(tp, b, s, factor) -> None:
    model = rooflens.load_model("meta-llama/Llama-2-7b-hf")
    device = rooflens.get_device("h100-sxm")
    slow, fast = (
        analyze(
            model,
            device,
            batch=b,
            prompt_len=s,
            gen_len=16,
            options=AnalysisOptions(parallelism=Parallelism(tp=tp, link_bandwidth=bw)),
        )
        for bw in (100e9, 100e9 * factor)
    )
    assert fast.generation["e2e_latency"] <= slow.generation["e2e_latency"]


def test_decode_generation_with_collectives_equals_sum_of_steps(tiny_model, toy_device) -> None:
    opts = _opts(tp=2, pp=2, micro_batches=2)
    whole = analyze(tiny_model, toy_device, batch=4, prompt_len=32, gen_len=50, options=opts)
    steps = analyze(tiny_model, toy_device, batch=4, prompt_len=np.arange(32, 81), options=opts)
    assert whole.generation["decode_time"] == pytest.approx(
        steps.totals()["decode"]["time"].sum(), rel=1e-12
    )


def test_groups_wider_than_a_node_use_the_network() -> None:
    model = rooflens.load_model("meta-llama/Llama-2-70b-hf")
    h100 = rooflens.get_device("h100-sxm")
    assert (h100.devices_per_node, h100.network_bandwidth) == (8, 50e9)

    def reduce_time(tp: int, pp: int = 1) -> float:
        result = analyze(
            model,
            h100,
            batch=8,
            prompt_len=1024,
            options=AnalysisOptions(parallelism=Parallelism(tp=tp, pp=pp)),
        )
        rows = result.operators()
        return rows[(rows.stage == "prefill") & (rows.name == "o_proj_all_reduce")].time.iloc[0]

    data = 8 * 1024 * 8192 * 2
    # NVLink at NCCL's least measured time per ring step, the network at its own default.
    assert reduce_time(8) == pytest.approx(data * 14 / 8 / 450e9 + 14 * 1.1e-6)
    assert reduce_time(16) == pytest.approx(data * 30 / 16 / 50e9 + 30 * 5e-6)
    # A pipeline across nodes hands activations over the network.
    within = analyze(model, h100, options=AnalysisOptions(parallelism=Parallelism(tp=4, pp=2)))
    across = analyze(model, h100, options=AnalysisOptions(parallelism=Parallelism(tp=8, pp=2)))
    assert across.steps["prefill"].p2p_time > within.steps["prefill"].p2p_time
    with pytest.raises(InvalidInputError, match="span nodes"):
        analyze(
            model,
            rooflens.get_device("a100-sxm4-80gb").model_copy(update={"devices_per_node": 8}),
            options=AnalysisOptions(parallelism=Parallelism(tp=16)),
        )


def test_experts_spread_inside_the_tensor_parallel_group() -> None:
    """SGLang's and TensorRT-LLM's --tp 4 --ep 4: attention split 4 ways, each device holds a
    quarter of the experts at full width and sees every token (no all-to-all); the tp
    all-reduce after the experts combines them. Per device the expert work and weights equal
    plain tp = 4 (experts split by width), by hand: 2 x 8 tokens x (8/4 routes) x 2048 x 768."""
    import rooflens
    from rooflens.core.errors import InvalidInputError

    model = "Qwen/Qwen3-30B-A3B"
    inside = rooflens.analyze(model, "h200-sxm", batch=8, prompt_len=1024, tp=4, ep=4, moe_tp=1)
    plain = rooflens.analyze(model, "h200-sxm", batch=8, prompt_len=1024, tp=4)
    ops = inside.operators()
    decode = ops[ops.stage == "decode"].set_index("name")
    assert decode.loc["expert_gate_proj", "ops"] == 2 * 8 * (8 / 4) * 2048 * 768
    assert not any(name.startswith("moe_") for name in decode.index)
    assert "expert_down_proj_all_reduce" in decode.index
    assert inside.options.parallelism.devices == 4
    plain_ops = plain.operators()
    plain_decode = plain_ops[plain_ops.stage == "decode"].set_index("name")
    for name in ("q_proj", "expert_gate_proj", "expert_down_proj"):
        assert decode.loc[name, "ops"] == plain_decode.loc[name, "ops"]
    with pytest.raises(InvalidInputError) as err:
        rooflens.analyze(model, "h200-sxm", tp=4, ep=2, moe_tp=1)
    assert err.value.field == "moe_tp" and "multiple of tp / ep = 2" in str(err.value)


def test_experts_spread_over_attention_groups_at_their_own_expert_tp() -> None:
    """vLLM's --tensor-parallel-size 2 --data-parallel-size 2 --enable-expert-parallel: two
    attention groups of 2 devices, the experts spread over all 4 at full width (moe_tp 1,
    ep 4). Each device serves both groups' tokens: 2 x 8 tokens x 2 groups x (8/4 routes) x
    2048 x 768 OPs, the same as the experts over 2 groups at the group's TP (tp 2, ep 2) and
    as one device's share without expert parallelism; an all-gather before the experts and a
    reduce-scatter after them move (g-1)/g of the two groups' 8 x 2048 bf16 rows each."""
    import rooflens

    model = "Qwen/Qwen3-30B-A3B"
    link = {"link_bandwidth": 1e11, "link_latency": 0.0}
    wide = rooflens.analyze(model, "h200-sxm", batch=8, prompt_len=64, tp=2, ep=4, moe_tp=1, **link)
    groups = rooflens.analyze(model, "h200-sxm", batch=8, prompt_len=64, tp=2, ep=2, **link)
    decode = wide.operators().query("stage == 'decode'").set_index("name")
    other = groups.operators().query("stage == 'decode'").set_index("name")
    assert wide.options.parallelism.expert_token_groups == 2
    assert decode.loc["expert_gate_proj", "ops"] == 2 * 8 * 2 * (8 / 4) * 2048 * 768
    assert decode.loc["expert_gate_proj", "ops"] == other.loc["expert_gate_proj", "ops"]
    assert decode.loc["expert_gate_proj", "load_weight"] == pytest.approx(
        other.loc["expert_gate_proj", "load_weight"]
    )
    for name in ("moe_all_gather", "moe_reduce_scatter"):
        assert decode.loc[name, "time"] == pytest.approx(8 * 2 * 2048 * 2 / 2 / 1e11)
    assert "moe_dispatch" not in decode.index
    assert "expert_down_proj_all_reduce" in decode.index
    # SGLang's --enable-dp-attention without EP: attention DP 4, the experts' width split
    # over all 4 GPUs (moe_tp 4, ep 1): a quarter of each expert on each, every token of
    # the four ranks through it.
    mtp = rooflens.analyze(model, "h200-sxm", batch=8, prompt_len=64, moe_tp=4, **link)
    rows = mtp.operators().query("stage == 'decode'").set_index("name")
    assert mtp.options.parallelism.expert_token_groups == 4
    assert rows.loc["expert_gate_proj", "ops"] == 2 * 8 * 4 * 8 * 2048 * (768 / 4)
    assert "moe_all_gather" in rows.index and "expert_down_proj_all_reduce" not in rows.index


def test_a_bridge_joins_two_cards_and_a_mesh_gives_a_group_its_links() -> None:
    """H100 PCIe's NVLink bridge pairs two cards: at TP 4 the ring crosses PCIe (it was priced
    at the bridge's 300 GB/s); an MI300X pair shares one of its 7 xGMI links (64 GB/s, it was
    priced at all 7's 448)."""
    from rooflens.core.options import Parallelism
    from rooflens.core.techniques.parallelism import link_bandwidth

    pcie = rooflens.get_device("h100-pcie")
    assert link_bandwidth(pcie, Parallelism(tp=2), ranks=2) == 300e9
    assert link_bandwidth(pcie, Parallelism(tp=4), ranks=4) == pcie.host_bandwidth
    mi300x = rooflens.get_device("mi300x")
    assert link_bandwidth(mi300x, Parallelism(tp=2), ranks=2) == pytest.approx(64e9)
    assert link_bandwidth(mi300x, Parallelism(tp=4), ranks=4) == pytest.approx(192e9)
    assert link_bandwidth(mi300x, Parallelism(tp=8), ranks=8) == pytest.approx(448e9)
    sxm = rooflens.get_device("h100-sxm")  # NVSwitch: the full bandwidth at any width
    assert link_bandwidth(sxm, Parallelism(tp=2), ranks=2) == sxm.interconnect_bandwidth
    # The advisor keeps tensor parallelism within what the bridge joins.
    from rooflens.advisor.search import _node_size

    assert (_node_size(pcie), _node_size(mi300x), _node_size(sxm)) == (2, 8, 8)
