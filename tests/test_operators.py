"""Hand-computed costs on a tiny GQA model (hidden 64, 4 heads, 2 KV heads, head_dim 16,
intermediate 128, vocab 100, 2 layers), batch 2, prompt 8, fp16 (2 bytes)."""

from __future__ import annotations

import pytest

from rooflens.core import AnalysisOptions, analyze, build_graph


@pytest.fixture
def rows(tiny_model, toy_device) -> dict:
    result = analyze(tiny_model, toy_device, batch=2, prompt_len=8)
    return {(r["stage"], r["name"]): r for r in result.operators().to_dict(orient="records")}


def test_linear_projection(rows) -> None:
    q = rows[("prefill", "q_proj")]  # 16 tokens x 64 -> 64
    assert q["ops"] == 2 * 16 * 64 * 64
    assert (q["load_weight"], q["load_act"], q["store_act"]) == (64 * 64 * 2, 16 * 64 * 2, 2048)
    assert q["time"] == pytest.approx((8192 + 2048 + 2048) / 1e12)
    assert q["bound"] == "memory"


def test_kv_projection_is_narrow_and_goes_to_cache(rows) -> None:
    k = rows[("prefill", "k_proj")]  # GQA: 2 KV heads x 16 = 32 outputs
    assert k["ops"] == 2 * 16 * 64 * 32
    assert k["store_kv"] == 16 * 32 * 2 and k["store_act"] == 0


def test_attention_reads_kv_per_kv_head(rows) -> None:
    qk = rows[("prefill", "qk_matmul")]  # scores: 2 x 4 heads x 8 x 8
    assert qk["ops"] == 2 * 512 * 16
    assert qk["load_act"] == 16 * 64 * 2
    assert qk["load_kv"] == 2 * 2 * 8 * 16 * 2  # 2 KV heads, not 4
    assert qk["store_act"] == 512 * 2
    sv = rows[("prefill", "sv_matmul")]
    assert (sv["load_act"], sv["load_kv"], sv["store_act"]) == (1024, 1024, 2048)
    sm = rows[("prefill", "softmax")]
    assert (sm["ops"], sm["load_act"], sm["store_act"]) == (5 * 512, 1024, 1024)


def test_decode_attention_sees_cache_plus_new_token(rows) -> None:
    qk = rows[("decode", "qk_matmul")]  # past 8 + 1 new = 9 keys
    assert qk["ops"] == 2 * (2 * 4 * 1 * 9) * 16
    assert qk["load_kv"] == 2 * 2 * 9 * 16 * 2


def test_residual_add_reads_both_inputs(rows) -> None:
    add = rows[("prefill", "attn_add")]
    assert (add["ops"], add["load_act"], add["store_act"]) == (1024, 2 * 2048, 2048)


def test_activation_counts_intermediate_width(rows) -> None:
    act = rows[("prefill", "mlp_act")]  # 16 tokens x 128, silu (4) + gate multiply (1)
    assert act["ops"] == 5 * 16 * 128
    assert (act["load_act"], act["store_act"]) == (2 * 4096, 4096)


def test_embedding_and_head_are_priced(rows) -> None:
    emb = rows[("prefill", "embed_tokens")]
    assert emb["load_weight"] == 16 * 64 * 2 and emb["count"] == 1
    head = rows[("prefill", "lm_head")]  # last token of each of the 2 sequences
    assert head["ops"] == 2 * 2 * 64 * 100
    assert head["load_weight"] == 64 * 100 * 2


def test_rmsnorm_loads_its_weight(rows) -> None:
    norm = rows[("prefill", "attn_norm")]
    assert norm["ops"] == 4 * 16 * 64
    assert norm["load_weight"] == 64 * 2


def test_totals_sum_layers_and_head(tiny_model, toy_device) -> None:
    result = analyze(tiny_model, toy_device, batch=2, prompt_len=8)
    frame = result.operators()
    prefill = frame[frame.stage == "prefill"]
    expected = (prefill["count"] * prefill["time"]).sum()
    assert result.totals()["prefill"]["time"] == pytest.approx(expected)
    assert result.totals()["prefill"]["ops"] == pytest.approx(
        (prefill["count"] * prefill["ops"]).sum()
    )


def test_parameter_count_by_hand(tiny_model) -> None:
    per_layer = 4096 + 2048 + 2048 + 4096 + 3 * 8192 + 2 * 64
    assert build_graph(tiny_model, AnalysisOptions()).params() == 6400 + 2 * per_layer + 64 + 6400


def test_tied_head_owns_no_parameters(tiny_model) -> None:
    tied = tiny_model.model_copy(update={"tied_embeddings": True})
    untied = build_graph(tiny_model, AnalysisOptions()).params()
    assert build_graph(tied, AnalysisOptions()).params() == untied - 6400


def test_compute_bound_when_intensity_beats_ridge(tiny_model, toy_device) -> None:
    slow = toy_device.model_copy(update={"peak_ops": {"fp32": 1e12, "fp16": 2e12}})
    rows = analyze(tiny_model, slow, batch=64, prompt_len=512).operators()
    rows = rows.set_index(["stage", "name"])
    # 32768 tokens: q_proj's intensity (~32 OP/B, capped by hidden 64) beats the ridge of 2.
    assert rows.loc[("prefill", "q_proj"), "bound"] == "compute"
    assert rows.loc[("prefill", "q_proj"), "performance"] == pytest.approx(2e12)
