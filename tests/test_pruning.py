"""Sparsity (unstructured, N:M), structured pruning and low-rank factorization."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rooflens
from rooflens.core import AnalysisOptions, Quantization, analyze, build_graph
from rooflens.core.errors import InvalidInputError


def _q(model, device, **opts):
    quant = {k: opts.pop(k) for k in ("sparsity", "sparse_kernel", "nm_sparsity") if k in opts}
    result = analyze(
        model,
        device,
        batch=2,
        prompt_len=8,
        options=AnalysisOptions(quantization=Quantization(**quant), **opts),
    )
    rows = result.operators()
    return result, rows[(rows.stage == "prefill") & (rows.name == "q_proj")].iloc[0]


def test_unstructured_sparsity_storage_and_compute(tiny_model, toy_device) -> None:
    _, dense = _q(tiny_model, toy_device)
    _, sparse = _q(tiny_model, toy_device, sparsity=0.75)
    # fp16 values of the kept quarter plus a 1-bit bitmap: 0.25 x 16 + 1 = 5 bits per weight.
    assert sparse.load_weight == pytest.approx(64 * 64 * 5 / 8)
    assert sparse.ops == dense.ops  # a dense kernel computes the zeros too
    _, fast = _q(tiny_model, toy_device, sparsity=0.75, sparse_kernel=True)
    assert fast.ops == dense.ops / 4
    _, light = _q(tiny_model, toy_device, sparsity=0.02)
    assert light.load_weight == dense.load_weight  # not worth a sparse format: stays dense


def test_two_four_uses_the_sparse_peak(tiny_model) -> None:
    a100 = rooflens.get_device("a100-sxm4-80gb")
    _, nm = _q(tiny_model, a100, nm_sparsity=(2, 4))
    assert nm.load_weight == pytest.approx(64 * 64 * (0.5 * (16 + 2)) / 8)
    assert nm.performance <= a100.sparse_peak_ops["bf16"]
    big = rooflens.analyze("meta-llama/Llama-2-7b-hf", a100, batch=64, prompt_len=2048)
    fast = rooflens.analyze(
        "meta-llama/Llama-2-7b-hf", a100, batch=64, prompt_len=2048, nm_sparsity="2:4"
    )
    ratio = fast.totals()["prefill"]["time"] / big.totals()["prefill"]["time"]
    assert 0.5 < ratio < 0.7  # compute-bound projections run at twice the rate


def test_only_patterns_the_sparse_tensor_cores_take_run_at_their_peak() -> None:
    """3:4 ran at the 2:4 sparse peak, twice as fast as dense: the sparse tensor cores take at
    most 2 of every 4; 1:4 runs there (as 2:4, no faster), 3:4 and 4:8 dense."""
    h100 = rooflens.get_device("h100-sxm")

    def gate_time(nm: str | None) -> float:
        extra = {"nm_sparsity": nm} if nm else {}
        rows = rooflens.analyze("meta-llama/Llama-3.1-8B", h100, **extra).operators()
        return float(rows.query("stage == 'prefill' and name == 'gate_proj'").time.iloc[0])

    dense = gate_time(None)
    # 2048 x 4096 x 14336 x 2 OPs, compute-bound at 989 or 1979 TOP/s.
    assert dense == pytest.approx(2048 * 4096 * 14336 * 2 / 989e12, rel=1e-3)
    assert gate_time("2:4") == gate_time("1:4") == pytest.approx(dense / 2, rel=1e-3)
    assert gate_time("3:4") == gate_time("4:8") == pytest.approx(dense, rel=1e-3)


@given(st.floats(0.0, 0.99), st.floats(0.0, 0.99))
def test_more_sparsity_never_uses_more_memory(x, y) -> None:
    low, high = sorted((x, y))
    qa, qb = Quantization(sparsity=high), Quantization(sparsity=low)
    assert qa.weight_bits_per_param(4096) <= qb.weight_bits_per_param(4096)


def test_structured_pruning_derives_a_smaller_model() -> None:
    llama = rooflens.load_model("meta-llama/Llama-3.1-8B")
    small = llama.pruned(heads=0.25, width=0.5, depth=0.25)
    assert (small.num_kv_heads, small.num_heads) == (6, 24)  # KV groups kept whole
    assert small.intermediate_size == 7168 and small.num_layers == 24
    full = build_graph(llama, AnalysisOptions()).params()
    assert build_graph(small, AnalysisOptions()).params() < 0.6 * full
    via_api = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", prune_depth=0.5)
    assert via_api.model.num_layers == 16
    with pytest.raises(rooflens.InvalidInputError, match="prune_width"):
        llama.pruned(width=1.0)


def test_low_rank_replaces_projections_by_two_thin_ones(tiny_model, toy_device) -> None:
    opts = AnalysisOptions(low_rank_ratio=0.25, low_rank_layers=("q_proj", "gate_proj"))
    graph = build_graph(tiny_model, opts)
    names = [op.name for op in graph.operators]
    assert {"q_proj_a", "q_proj_b", "gate_proj_a", "gate_proj_b"} <= set(names)
    assert "k_proj" in names and "q_proj" not in names
    rows = analyze(tiny_model, toy_device, batch=2, prompt_len=8, options=opts).operators()
    a = rows[(rows.stage == "prefill") & (rows.name == "q_proj_a")].iloc[0]
    b = rows[(rows.stage == "prefill") & (rows.name == "q_proj_b")].iloc[0]
    assert a.ops + b.ops == 2 * 16 * (64 * 16 + 16 * 64)  # rank 16 = 0.25 x 64
    full = build_graph(tiny_model, AnalysisOptions()).params()
    assert graph.params() == full - 2 * (64 * 64 - 2 * 64 * 16) - 2 * (64 * 128 - 16 * (64 + 128))


def test_bad_sparsity_settings() -> None:
    for kwargs, field in (
        ({"nm_sparsity": "4:2"}, "nm_sparsity"),
        ({"nm_sparsity": "two"}, "nm_sparsity"),
        ({"sparsity": 1.5}, "sparsity"),
        ({"low_rank_ratio": 0}, "low_rank_ratio"),
    ):
        with pytest.raises(rooflens.InvalidInputError) as info:
            rooflens.make_options(**kwargs)
        assert info.value.field == field


def _decode(model, device, batch: int, **opts):
    result = analyze(model, device, batch=batch, prompt_len=8, options=AnalysisOptions(**opts))
    rows = result.operators()
    return result, rows[rows.stage == "decode"].set_index("name")


def test_contextual_sparsity_by_hand(tiny_model, toy_device) -> None:
    _, dense = _decode(tiny_model, toy_device, 1)
    _, sparse = _decode(
        tiny_model, toy_device, 1, active_heads=0.5, active_neurons=0.25, predictor_rank=8
    )
    assert sparse.loc["q_proj", "ops"] == dense.loc["q_proj", "ops"] / 2
    assert sparse.loc["q_proj", "load_weight"] == dense.loc["q_proj", "load_weight"] / 2
    assert sparse.loc["k_proj", "ops"] == dense.loc["k_proj", "ops"]  # the KV cache stays whole
    assert sparse.loc["down_proj", "load_act"] == dense.loc["down_proj", "load_act"] / 4
    assert sparse.loc["qk_matmul", "load_kv"] == dense.loc["qk_matmul", "load_kv"] / 2
    assert sparse.loc["sparsity_predictor_b", "ops"] == 2 * 8 * (4 + 128)
    # At batch 64 the tokens' neurons together cover nearly all weights: 1 - 0.75^64.
    _, wide = _decode(tiny_model, toy_device, 64, active_neurons=0.25)
    _, full = _decode(tiny_model, toy_device, 64)
    assert wide.loc["up_proj", "load_weight"] == pytest.approx(
        full.loc["up_proj", "load_weight"] * (1 - 0.75**64)
    )


def test_contextual_sparsity_leaves_prefill_alone(tiny_model, toy_device) -> None:
    plain = analyze(tiny_model, toy_device, batch=2, prompt_len=64)
    opts = AnalysisOptions(active_heads=0.5, active_neurons=0.5, predictor_rank=8)
    sparse = analyze(tiny_model, toy_device, batch=2, prompt_len=64, options=opts)
    assert sparse.totals()["prefill"]["time"] == plain.totals()["prefill"]["time"]
    assert sparse.totals()["decode"]["time"] < plain.totals()["decode"]["time"]
    # A predictor larger than the layers it prunes costs more than it saves.
    costly = analyze(
        tiny_model,
        toy_device,
        batch=2,
        prompt_len=64,
        options=AnalysisOptions(active_heads=0.5, active_neurons=0.5),
    )
    assert costly.totals()["decode"]["time"] > plain.totals()["decode"]["time"]


@given(st.floats(0.05, 0.99), st.floats(0.05, 0.99), st.integers(1, 256))
def test_fewer_active_neurons_never_cost_more(x, y, b) -> None:
    """Among enabled settings (both pay for the predictor), a smaller share never moves more."""
    low, high = sorted((x, y))
    model = rooflens.load_model("meta-llama/Llama-2-7b-hf")
    a = analyze(
        model,
        rooflens.get_device("a6000"),
        batch=b,
        prompt_len=512,
        options=AnalysisOptions(active_neurons=low),
    )
    c = analyze(
        model,
        rooflens.get_device("a6000"),
        batch=b,
        prompt_len=512,
        options=AnalysisOptions(active_neurons=high),
    )
    assert a.totals()["decode"]["memory_access"] <= c.totals()["decode"]["memory_access"]


def test_global_layers_of_their_own_shape_lose_the_same_share_of_kv_groups() -> None:
    """Step 3.7's global layers (64 query heads over 8 KV heads, its window layers 96) and
    Gemma 4's (2 KV heads against 8) keep their own grouping, each KV group whole."""
    from rooflens.models import load_model

    step = load_model("stepfun-ai/Step-3.7-Flash").pruned(heads=0.5)
    assert (step.num_heads, step.num_kv_heads, step.global_heads) == (48, 4, 32)
    gemma = load_model("google/gemma-4-26B-A4B")
    assert (gemma.num_heads, gemma.num_kv_heads, gemma.global_kv_heads) == (16, 8, 2)
    half = gemma.pruned(heads=0.5)
    assert (half.num_heads, half.num_kv_heads, half.global_kv_heads) == (8, 4, 1)
    # 7 KV groups of 2 leave 14 query heads, which 4 global KV heads (3.5 rounded) do not divide.
    with pytest.raises(InvalidInputError, match=r"prune_heads=0.125 is invalid: .*14 heads, 4"):
        gemma.model_copy(update={"global_kv_heads": 4}).pruned(heads=0.125)


def test_contextual_sparsity_predicts_only_what_it_skips() -> None:
    """Deja Vu's predictor scored heads and the config's dense MLP width wherever it ran:
    Qwen3-30B-A3B (experts only) grew a 32 + 6,144-wide predictor in all 48 layers for
    neurons it has none of, and a heads-only predictor scored neurons too."""

    def predictors(model: str, **active) -> dict[str, tuple[float, float]]:
        rows = rooflens.analyze(model, "h100-sxm", **active).operators()
        rows = rows[(rows.stage == "decode") & rows.name.str.startswith("sparsity_predictor")]
        return {n: (float(g["count"].sum()), float(g.load_weight.max())) for n, g in
                rows.groupby("name")}  # fmt: skip

    with pytest.raises(InvalidInputError, match="no dense MLP"):
        rooflens.analyze("Qwen/Qwen3-30B-A3B", "h100-sxm", active_neurons=0.5)
    # Heads alone: rank 1,024 x 32 heads, 16-bit, in each of 48 layers.
    assert predictors("Qwen/Qwen3-30B-A3B", active_heads=0.5)["sparsity_predictor_b"] == (
        48,
        1024 * 32 * 2,
    )
    assert predictors("meta-llama/Llama-3.1-8B", active_heads=0.5)["sparsity_predictor_b"] == (
        32,
        1024 * 32 * 2,
    )
    # A hybrid's heads are in its attention layers alone: Jamba's 4 of 32, its neurons in its
    # 16 dense-MLP layers (the other 16 route to experts).
    assert predictors("ai21labs/Jamba-v0.1", active_heads=0.5)["sparsity_predictor_b"][0] == 4
    rows = rooflens.analyze("ai21labs/Jamba-v0.1", "h100-sxm", active_heads=0.5,
                            active_neurons=0.5).operators()  # fmt: skip
    b = rows[(rows.stage == "decode") & (rows.name == "sparsity_predictor_b")]
    assert sorted(zip(b["count"], b.load_weight / 2 / 1024, strict=True)) == [(4, 32), (16, 14336)]
    # DeepSeek-V2-Lite's one dense layer predicts its 10,944 neurons; the 26 MoE layers none.
    assert predictors("deepseek-ai/DeepSeek-V2-Lite", active_neurons=0.5)[
        "sparsity_predictor_b"
    ] == (1, 1024 * 10944 * 2)


def test_a_pruning_share_that_removes_nothing_is_refused_and_the_kept_counts_named() -> None:
    """0.05 of Llama-3.1-8B's 8 KV groups rounded to none: nothing changed, while the header
    said "pruned: heads 0.05"."""
    llama = rooflens.load_model("meta-llama/Llama-3.1-8B")
    with pytest.raises(InvalidInputError, match=r"prune_heads=0.05 .* above 0.0625"):
        llama.pruned(heads=0.05)
    with pytest.raises(InvalidInputError, match=r"prune_depth=0.01 .* above 0.0156"):
        llama.pruned(depth=0.01)
    small = llama.pruned(heads=0.3, width=0.2)
    assert small.name == (
        "meta-llama/Llama-3.1-8B (pruned: 6 of 8 KV groups, 11469 of 14336 MLP channels, "
        "32 of 32 layers)"
    )


def test_depth_pruning_keeps_each_interleaved_kind_of_layer_in_its_share() -> None:
    """Depth pruning kept every layer of one kind it could, so it removed the others first:
    Gemma 3 1B at half its 26 layers (22 window, 4 global) kept 13 window layers and no global
    one, MiniMax-M3's 30 of 60 all sparse, DeepSeek-V4-Flash's 22 of 43 no window-only layer.
    Each kind now keeps its share of the layers left (largest remainders first), one at least
    while there are as many layers as kinds."""
    from rooflens.core.model import apportioned
    from rooflens.models.catalog import load_model

    assert apportioned((22, 4), 13) == [11, 2]
    assert apportioned((22, 4), 3) == [2, 1]  # the global kind keeps one too
    assert apportioned((22, 4), 1) == [1, 0]  # one layer: the larger kind's
    assert apportioned((1, 25), 13) == [1, 12]  # 0.5 of a layer: kept, not rounded away
    assert apportioned((21, 20, 2), 22) == [11, 10, 1]
    gemma = load_model("google/gemma-3-1b-it")
    assert (gemma.num_layers, gemma.window_layers) == (26, 22)
    assert gemma.pruned(depth=0.5).window_layers == 11
    assert gemma.pruned(depth=0.9).window_layers == 2  # of 3: one global layer stays
    scout = load_model("meta-llama/Llama-4-Scout-17B-16E")
    assert (scout.num_layers, scout.chunk_layers) == (48, 36)
    assert scout.pruned(depth=0.5).chunk_layers == 18
    m3 = load_model("MiniMaxAI/MiniMax-M3")
    assert (m3.num_layers, m3.sparse_layers) == (60, 57)
    assert m3.pruned(depth=0.5).sparse_layers == 29
    v4 = load_model("deepseek-ai/DeepSeek-V4-Flash")
    assert (v4.num_layers, v4.csa_layers, v4.hca_layers) == (43, 21, 20)
    half = v4.pruned(depth=0.5)
    assert (half.num_layers, half.csa_layers, half.hca_layers) == (22, 11, 10)
