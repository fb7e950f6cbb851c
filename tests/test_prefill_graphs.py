"""Prefill iterations run without CUDA graphs: past the engine's prefill graphs (none before
SGLang 0.5.10) an iteration lasts at least the host's time to launch its kernels, the
profile's eager time per layer; decode steps and iterations within the graphs do not."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app
from rooflens.engines import DEFAULTS, load_engine_profile, prefill_graph_tokens
from rooflens.hardware.catalog import get_device
from rooflens.serving.workload import Workload

MOE = "Qwen/Qwen3-30B-A3B"  # 48 layers
DENSE = "meta-llama/Llama-3.1-8B"


def _prefill(run: rooflens.Analysis) -> float:
    return float(np.max(run.steps["prefill"].step_time()))


def test_sglang_prefills_without_graphs_before_0_5_10_and_up_to_its_chunk_after() -> None:
    h100, b200 = get_device("h100-sxm"), get_device("b200")
    assert prefill_graph_tokens("sglang", h100, "0.5.9") == 0
    assert prefill_graph_tokens("sglang", h100, "v0.5.6.post2") == 0
    assert prefill_graph_tokens("sglang", h100, "0.5.10rc0") == 8192  # on from its first candidate
    assert prefill_graph_tokens("sglang", h100, "0.5.10") == 8192
    assert prefill_graph_tokens("sglang", h100, None) == 8192
    assert prefill_graph_tokens("sglang", b200, "0.5.17") == 16384
    # No host launch time measured: every iteration as its kernels.
    for engine in ("trtllm", "transformers"):
        assert prefill_graph_tokens(engine, h100, None) is None


def test_vllm_captures_graphs_up_to_twice_its_sequences_512_and_its_token_budget() -> None:
    """vllm/config/vllm.py (_set_cudagraph_sizes): min(2 x max_num_seqs x (1 + drafts), 512,
    max_num_batched_tokens); its preset (1,024 sequences, 8,192 tokens) gives 512, on an
    A100 (256 and 2,048) too."""
    from rooflens.serving.config import SchedulerConfig

    h100 = get_device("h100-sxm")
    assert prefill_graph_tokens("vllm", h100, "0.22.0") == 512
    assert prefill_graph_tokens("vllm", get_device("a100-sxm-80gb"), None) == 512
    for sched, tokens in (
        (SchedulerConfig(max_batch=4), 8),
        (SchedulerConfig(max_batch=64), 128),
        (SchedulerConfig(max_batch=32, draft_tokens=3), 256),
        (SchedulerConfig(max_batch=1024, max_tokens=2048), 512),
        (SchedulerConfig(max_batch=100, max_tokens=150), 150),
    ):
        assert prefill_graph_tokens("vllm", h100, None, scheduler=sched) == tokens
    # gpt-oss sets its own largest size, 1,024 tokens, whatever the sequences.
    gpt_oss = rooflens.load_model("openai/gpt-oss-120b")
    assert prefill_graph_tokens("vllm", h100, None, gpt_oss) == 1024
    few = SchedulerConfig(max_batch=4, max_tokens=768)
    assert prefill_graph_tokens("vllm", h100, None, gpt_oss, scheduler=few) == 768


def test_a_vllm_prefill_past_its_graphs_lasts_at_least_the_measured_launch() -> None:
    """vLLM's launch: 1.09 ms per layer, 0.47 ms more with a mixture of experts
    (docs/engines-measured.md): Llama-3.1-8B's 32 layers 34.88 ms, Qwen3-30B-A3B's 48 74.88
    ms; a 512-token prompt (in its graphs) is priced as its kernels, 1,024 tokens at the
    launch where the kernels are shorter, 8,192 tokens as its kernels (longer)."""
    profile = load_engine_profile("vllm", "h100-sxm")
    assert (profile.eager_host_per_layer, profile.eager_host_per_moe_layer) == (0.00109, 0.00047)
    for model, launch in ((DENSE, 0.03488), (MOE, 0.07488)):
        priced = {}
        for prompt in (512, 1024, 8192):
            served = rooflens.analyze(model, "h100-sxm", engine="vllm", prompt_len=prompt)
            kernels = _prefill(
                rooflens.analyze(
                    model, "h100-sxm", engine="vllm", prompt_len=prompt,
                    prefill_graph_tokens=prompt,
                )
            )  # fmt: skip
            priced[prompt] = (_prefill(served), kernels)
        assert priced[512][0] == pytest.approx(priced[512][1], rel=1e-12)  # in its graphs
        assert priced[1024][1] < launch  # the launch outlasts the kernels
        assert priced[1024][0] == pytest.approx(launch, rel=1e-12)
        assert priced[8192][1] > launch  # the kernels outlast the launch
        assert priced[8192][0] == pytest.approx(priced[8192][1], rel=1e-12)


def test_a_vllm_scheduler_of_few_sequences_captures_fewer_prefill_tokens() -> None:
    """The serving simulator takes the capture sizes from the scheduler it runs: 8 sequences
    capture 16 tokens, so a 256-token prompt runs past them and its TTFT holds Llama's 34.88
    ms launch; at the preset's 1,024 sequences (512 tokens) it runs in a graph."""
    from rooflens.serving.api import simulate
    from rooflens.serving.config import SchedulerConfig

    load = Workload(requests=2, prompt="fixed:256", output="fixed:4")
    runs = {
        batch: simulate(
            DENSE, "h100-sxm", load, engine="vllm", concurrency=1,
            scheduler=SchedulerConfig(max_batch=batch, policy="chunked"),
        ).requests["ttft"]
        for batch in (8, 1024)
    }  # fmt: skip
    kernels = _prefill(rooflens.analyze(DENSE, "h100-sxm", engine="vllm", prompt_len=256))
    assert kernels < 0.03488
    np.testing.assert_allclose(runs[8] - runs[1024], 0.03488 - kernels, rtol=1e-6)


def test_an_eager_prefill_lasts_at_least_the_hosts_launch_time() -> None:
    """A layer's launch takes 0.42 ms, 1.77 ms more with a mixture of experts: Qwen3-30B-A3B's
    48 such layers 105.1 ms, longer than the GPU's prefill of 16 or 1,024 tokens (15.9 and
    31.8 ms) and shorter than the one of 8,192 tokens; Llama-3.1-8B's 32 dense layers 13.4 ms;
    decode is untouched."""
    dense, moe = (
        DEFAULTS["sglang"].eager_host_per_layer,
        DEFAULTS["sglang"].eager_host_per_moe_layer,
    )
    assert (dense, moe) == (0.00042, 0.00177)
    profile = load_engine_profile("sglang", "h100-sxm")
    assert (profile.eager_host_per_layer, profile.eager_host_per_moe_layer) == (dense, moe)
    floors = {MOE: 48 * (dense + moe), DENSE: 32 * dense}
    for model, floor in floors.items():
        for prompt in (16, 1024, 8192):
            graphs = rooflens.analyze(
                model, "h100-sxm", engine="sglang", engine_version="0.5.17", prompt_len=prompt
            )
            eager = rooflens.analyze(
                model, "h100-sxm", engine="sglang", engine_version="0.5.9", prompt_len=prompt
            )
            given = rooflens.analyze(
                model, "h100-sxm", engine="sglang", prompt_len=prompt, prefill_graph_tokens=0
            )
            assert eager.options.prefill_graph_tokens == 0
            assert _prefill(given) == pytest.approx(max(_prefill(graphs), floor))
            decode = float(graphs.totals()["decode"]["time"])
            assert float(given.totals()["decode"]["time"]) == decode
        assert _prefill(graphs) > floor  # 8,192 tokens: the GPU outlasts the host
        short = rooflens.analyze(model, "h100-sxm", engine="sglang", prompt_len=16)
        assert _prefill(short) < floor  # 16 tokens: the host's launch binds
    assert floors[MOE] == pytest.approx(0.10512)
    # A prompt past the graphs' tokens runs eagerly; one within them does not.
    within = rooflens.analyze(MOE, "h100-sxm", engine="sglang", prompt_len=512)
    past = rooflens.analyze(
        MOE, "h100-sxm", engine="sglang", prompt_len=512, prefill_graph_tokens=511
    )
    assert _prefill(within) < floors[MOE]
    assert _prefill(past) == pytest.approx(floors[MOE])


def test_sglang_prefills_latent_attention_without_graphs_from_0_5_15() -> None:
    """0.5.17's log: its breakable prefill graphs are incompatible with MLA without DSA's
    indexer, so DeepSeek-V2-Lite prefills eagerly (27 layers: 26 with experts), GLM-5 (DSA)
    in graphs of at most 2,048 tokens, as every release captures latent attention's; on a B200
    too, whose chunk is 16,384; DeepSeek-V2-Lite's piecewise graphs in 0.5.12 as well."""
    h100, b200 = get_device("h100-sxm"), get_device("b200")
    lite, glm = (
        rooflens.load_model("deepseek-ai/DeepSeek-V2-Lite"),
        rooflens.load_model("zai-org/GLM-5"),
    )
    assert prefill_graph_tokens("sglang", h100, "0.5.17", lite) == 0
    assert prefill_graph_tokens("sglang", h100, "0.5.17", glm) == 2048
    assert prefill_graph_tokens("sglang", b200, "0.5.17", glm) == 2048
    assert prefill_graph_tokens("sglang", h100, "0.5.12", lite) == 2048
    run = rooflens.analyze(lite, "h100-sxm", engine="sglang", engine_version="0.5.17")
    assert run.options.prefill_graph_tokens == 0
    assert _prefill(run) == pytest.approx(27 * 0.00042 + 26 * 0.00177)


RUNNER = "TensorRT-LLM's MoE runner, its choice on Blackwell"
WRAPPER = "its multimodal wrapper, in which the graph runner finds no language model"
RULES = [
    # (model, device, release, deployment, why off or None): each release's server_args.py.
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.9", {}, "prefill graphs opt-in before 0.5.10"),
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.12", {}, None),
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.12", {"drafting": True}, "speculative decoding"),
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.17", {"drafting": True}, None),
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.12", {"attention_dp": True}, "attention DP"),
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.16", {"attention_dp": True}, "attention DP"),
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.17", {"attention_dp": True}, None),
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.14", {"pipeline": True}, "pipeline parallelism"),
    ("meta-llama/Llama-3.1-8B", "h100-sxm", "0.5.17", {"pipeline": True}, None),
    ("Qwen/Qwen3.5-397B-A17B", "b200", "0.5.10.post1", {}, "a multimodal model"),
    ("Qwen/Qwen3.5-397B-A17B", "b200", "0.5.15", {}, "a multimodal model"),
    ("Qwen/Qwen3.5-397B-A17B", "b200", "0.5.16", {}, None),
    # Served as a text model (mm_disabled_models), its language model reached from 0.5.16.
    ("google/gemma-3-27b-it", "h100-sxm", "0.5.12", {}, WRAPPER),
    ("google/gemma-3-27b-it", "h100-sxm", "0.5.17", {}, None),
    ("Qwen/Qwen3-VL-4B-Instruct", "h100-sxm", "0.5.17", {}, "a multimodal model"),
    ("moonshotai/Kimi-K2.5", "h200", "0.5.16", {}, None),
    ("moonshotai/Kimi-K2.5", "h200", "0.5.17", {"attention_dp": True}, "attention DP"),
    ("moonshotai/Kimi-K2.5", "h200", "0.5.16", {"drafting": True}, "speculative decoding"),
    ("zai-org/GLM-5", "h200", "0.5.12", {}, "the glm_moe_dsa architecture"),
    ("zai-org/GLM-5", "h200", "0.5.13", {}, None),
    ("zai-org/GLM-5", "h200", "0.5.15", {}, "latent attention"),
    ("zai-org/GLM-5", "h200", "0.5.17", {}, None),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "h100-sxm", "0.5.14", {},
     "the qwen3_next architecture"),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "h100-sxm", "0.5.15", {}, None),
    ("deepseek-ai/DeepSeek-V3", "h200", "0.5.12", {}, None),
    ("deepseek-ai/DeepSeek-V3", "b200", "0.5.12", {}, RUNNER),
    ("deepseek-ai/DeepSeek-V3", "h200", "0.5.17", {}, "latent attention without DSA"),
    ("Qwen/Qwen3-30B-A3B", "b200", "0.5.12", {}, RUNNER),
    ("Qwen/Qwen3-30B-A3B", "b200", "0.5.13", {}, None),  # its MoE layers inside the graphs
    ("Qwen/Qwen3-30B-A3B", "h100-sxm", "0.5.13", {}, None),
    ("openai/gpt-oss-120b", "b200", "0.5.13", {}, None),
]  # fmt: skip


@pytest.mark.parametrize(("model", "device", "release", "deployment", "why"), RULES)
def test_sglang_prefill_graph_rules_follow_each_release(
    model: str, device: str, release: str, deployment: dict[str, bool], why: str | None
) -> None:
    from rooflens.engines.sglang import prefill_graphs_off

    spec = rooflens.load_model(model)
    assert prefill_graphs_off(get_device(device), release, spec, **deployment) == why
    tokens = prefill_graph_tokens("sglang", get_device(device), release, spec, **deployment)
    assert (tokens == 0) is (why is not None)


@pytest.mark.parametrize(
    ("version", "at", "release"),
    [("0.5.9", None, "0.5.9"), ("v0.5.14-cu130", None, "0.5.14"),
     ("v0.5.15-cu129-amd64", None, "0.5.15"), ("0.5.10.post1", "2026-01-01", "0.5.10.post1"),
     ("20260402", None, "0.5.10"), (None, "2026-03-20", "0.5.10"), ("", "2026-03-20", "0.5.10"),
     ("nightly-dev-20260216-d3bae71e", None, "0.5.9"),  # before 0.5.10's default landed
     ("nightly-dev-20260302-abc", None, "0.5.10"),
     ("nightly-dev-20260402-d7256eb6", None, "0.5.10"), ("nightly-2026-05-07", None, "0.5.11"),
     ("nightly-dev-20260510", "2026-01-01", "0.5.11"),  # the tag's date before `at`
     ("nightly-dev", "2026-03-20", "0.5.10"), ("glm5-hopper", "2026-03-19T08:00:00Z", "0.5.10"),
     ("nightly-dev", "2026-07-25", "0.5.16"), ("nightly-dev", None, "0.5.17"),
     (None, None, "0.5.17")],
)  # fmt: skip
def test_a_nightly_image_takes_the_rules_of_the_last_release_before_its_day(
    version: str | None, at: str | None, release: str
) -> None:
    from rooflens.engines.sglang import rules_release

    assert rules_release(version, at) == release


def test_a_fourth_number_or_a_dev_release_is_the_release_it_numbers() -> None:
    """0.5.9.0, 0.5.9.1 and 0.5.9.dev0 matched no release in a tag: read as builds naming
    none, they took the newest release's rules (prefill graphs, TTFT 78 ms) while the
    tables priced 0.5.9's kernels; 0.5.9 itself prefills without graphs (105 ms)."""
    from rooflens.engines.sglang import named_release

    h100 = get_device("h100-sxm")
    plain = rooflens.analyze(MOE, h100, prompt_len=4096, gen_len=16, engine="sglang",
                             engine_version="0.5.9")  # fmt: skip
    for version in ("0.5.9.0", "0.5.9.1", "0.5.9.dev0"):
        assert named_release(version) == version
        assert prefill_graph_tokens("sglang", h100, version) == 0
        run = rooflens.analyze(MOE, h100, prompt_len=4096, gen_len=16, engine="sglang",
                               engine_version=version)  # fmt: skip
        assert float(run.generation["ttft"]) == float(plain.generation["ttft"])
    assert named_release("v0.5.15-cu129-amd64") == "0.5.15"
    assert named_release("nightly-dev-20260216-d3bae71e") is None


def test_a_dev_build_comes_before_its_release_and_a_dated_one_by_its_day() -> None:
    """A development build precedes its release's candidates (PEP 440: 0.5.10.dev7 before
    0.5.10rc0; dev and rc ranked alike, so 0.5.10.dev0 took 0.5.10's graph rules), and one
    stamped with its day is read by that day, as a nightly is."""
    from rooflens.core.efficiency import version_key
    from rooflens.engines.sglang import named_release, rules_release

    assert version_key("0.5.10.dev7") < version_key("0.5.10rc0") < version_key("0.5.10")
    h100 = get_device("h100-sxm")
    assert prefill_graph_tokens("sglang", h100, "0.5.10.dev0") == 0  # opt-in before 0.5.10rc0
    assert named_release("0.5.10.dev20260315") is None
    assert rules_release("0.5.10.dev20260315") == rules_release("nightly-dev-20260315")


def test_the_line_says_where_prefill_ran_without_graphs() -> None:
    eager = rooflens.analyze(MOE, "h100-sxm", engine="sglang", engine_version="0.5.9")
    line = (
        "every prefill iteration runs without CUDA graphs (SGLang 0.5.9: prefill graphs opt-in "
        "before 0.5.10): each lasts at least the host's time to launch its kernels (the "
        "profile's 0.42 ms per layer and 1.77 ms more per mixture-of-experts layer, measured "
        "with the engine on an H100: docs/engines-measured.md)"
    )
    assert line in eager.fallbacks
    # The release's reason where its rules turn them off, and no setting line for it.
    qwen = rooflens.analyze(
        "Qwen/Qwen3.5-397B-A17B", "b200", engine="sglang", engine_version="0.5.12", tp=8
    )
    assert any(
        f.startswith("every prefill iteration runs without CUDA graphs (SGLang 0.5.12 turns "
                     "them off for a multimodal model): ")
        for f in qwen.fallbacks
    )  # fmt: skip
    assert "prefill_graph_note" not in " ".join(rooflens.formats.analysis_notes(qwen))
    given = rooflens.analyze(MOE, "h100-sxm", engine="sglang", prefill_graph_tokens=0)
    assert any(f.startswith("every prefill iteration runs without CUDA graphs: ")
               for f in given.fallbacks)  # fmt: skip
    within = rooflens.analyze(MOE, "h100-sxm", engine="sglang", prompt_len=1024)
    assert not any("CUDA graphs" in f for f in within.fallbacks)
    past = rooflens.analyze(
        MOE, "h100-sxm", engine="sglang", prompt_len=1024, prefill_graph_tokens=512
    )
    assert any(f.startswith("prefill iterations of more than 512 tokens") for f in past.fallbacks)
    # A profile that times no launches cannot price it, and says so (TensorRT-LLM's).
    trtllm = rooflens.analyze(MOE, "h200-sxm", engine="trtllm", prefill_graph_tokens=0)
    assert (
        "prefill_graph_tokens=0: the profile has no host time per kernel launched (its tables "
        "time kernels, not launches); priced as from CUDA graphs"
    ) in trtllm.fallbacks
    assert _prefill(trtllm) == _prefill(rooflens.analyze(MOE, "h200-sxm", engine="trtllm"))
    # vLLM's, measured, past its 512-token graphs by default.
    vllm = rooflens.analyze(MOE, "h100-sxm", engine="vllm", prompt_len=2048)
    assert any(
        f.startswith("prefill iterations of more than 512 tokens run without CUDA graphs: ")
        and "1.09 ms per layer and 0.47 ms more per mixture-of-experts layer" in f
        for f in vllm.fallbacks
    )


def test_a_single_client_waits_the_launch_time_on_sglang_before_0_5_10() -> None:
    """One client, 16-token prompts: TTFT is SGLang's 15.8 ms per request and the prefill
    iteration, 105.1 ms of host launch before 0.5.10 (the GPU's 15.9 ms after)."""
    load = Workload(requests=3, prompt="fixed:16", output="fixed:4")
    old, new = (
        rooflens.simulate(MOE, "h100-sxm", load, engine="sglang", engine_version=v, concurrency=1)
        for v in ("0.5.9", "0.5.17")
    )
    ttft_old = old.requests["ttft"].to_numpy()
    np.testing.assert_allclose(ttft_old, 0.0158 + 48 * (0.00042 + 0.00177), rtol=1e-6)
    assert float(new.requests["ttft"].max()) < 0.0158 + 0.02
    assert any("without CUDA graphs" in f for f in old.fallbacks)
    assert not any("without CUDA graphs" in f for f in new.fallbacks)


def test_the_setting_is_refused_for_the_roofline_bound_everywhere() -> None:
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.analyze(DENSE, "h100-sxm", prefill_graph_tokens=0)
    assert info.value.field == "prefill_graph_tokens"
    assert info.value.accepted.startswith("empty without an engine or a calibration")
    res = CliRunner().invoke(
        app, ["analyze", DENSE, "-H", "h100-sxm", "--prefill-graph-tokens", "0"]
    )
    assert res.exit_code == 2
    assert "prefill_graph_tokens=0 is invalid: expected empty without an engine" in res.output
    res = CliRunner().invoke(
        app, ["analyze", DENSE, "-H", "h100-sxm", "--engine", "sglang", "--prefill-graph-tokens",
              "-1"],
    )  # fmt: skip
    assert res.exit_code == 2
    from fastapi.testclient import TestClient

    from rooflens.web.app import create_app

    web = TestClient(create_app(), base_url="http://127.0.0.1")
    body = {"model": {"id": DENSE}, "device": {"name": "h100-sxm"}}
    refused = web.post("/api/analyze", json=body | {"options": {"prefill_graph_tokens": 0}})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "options", "prefill_graph_tokens"]
    served = web.post(
        "/api/analyze",
        json=body | {"options": {"engine": "sglang", "engine_version": "0.5.9"}},
    )
    assert served.status_code == 200
    answer = served.json()
    assert answer["estimate"].endswith("graphs for decode, eager prefill)")
    newest = web.post("/api/analyze", json=body | {"options": {"engine": "sglang"}}).json()
    assert newest["estimate"].endswith("graphs, prefill's up to 8,192 tokens)")
    assert any(line.startswith("every prefill iteration runs without") for line in
               answer["fallbacks"])  # fmt: skip


def test_the_settings_help_names_the_measured_times() -> None:
    from rooflens.settings import Settings

    sglang = DEFAULTS["sglang"]
    help_text = Settings.model_fields["prefill_graph_tokens"].description
    assert (
        f"SGLang's measured {sglang.eager_host_per_layer * 1e3:.2f} ms per layer, "
        f"{sglang.eager_host_per_moe_layer * 1e3:.2f} ms more with experts"
    ) in help_text


def test_sglang_turns_prefill_graphs_off_with_drafting_disaggregation_dp_and_pipelines() -> None:
    """0.5.10-0.5.14 prefill without graphs under speculative decoding, disaggregation,
    attention DP and pipeline parallelism: analyze reads the layout, the simulator its
    scheduler's drafts and its cluster. 0.5.17's breakable graphs keep them on there."""
    from rooflens.api import resolve
    from rooflens.serving.api import _served_graphs
    from rooflens.serving.config import ClusterConfig, SchedulerConfig
    from rooflens.settings import parse_settings

    old = {"engine": "sglang", "engine_version": "0.5.14"}
    assert rooflens.analyze(DENSE, "h100-sxm", **old).options.prefill_graph_tokens == 8192
    piped = rooflens.analyze(DENSE, "h100-sxm", pp=2, **old)
    assert piped.options.prefill_graph_tokens == 0
    spread = rooflens.analyze(MOE, "h100-sxm", tp=1, ep=2, **old)  # 2 DP groups
    assert spread.options.prefill_graph_tokens == 0
    newest = rooflens.analyze(DENSE, "h100-sxm", engine="sglang", pp=2)
    assert newest.options.prefill_graph_tokens == 8192
    settings = parse_settings(old)
    spec, device, options = resolve(DENSE, "h100-sxm", settings)
    plain = SchedulerConfig()
    assert _served_graphs(options, settings, spec, device, plain, None) == options
    drafting = SchedulerConfig(draft_tokens=2)
    assert _served_graphs(options, settings, spec, device, drafting, None).prefill_graph_tokens == 0
    split = ClusterConfig(disaggregated=True)
    assert _served_graphs(options, settings, spec, device, plain, split).prefill_graph_tokens == 0
    settings = parse_settings({"engine": "sglang"})
    spec, device, options = resolve(DENSE, "h100-sxm", settings)
    served = _served_graphs(options, settings, spec, device, drafting, split)
    assert served.prefill_graph_tokens == 8192
    # Given, the setting stands.
    given = parse_settings({**old, "prefill_graph_tokens": 512})
    spec, device, options = resolve(DENSE, "h100-sxm", given)
    assert _served_graphs(options, given, spec, device, drafting, split).prefill_graph_tokens == 512


def test_an_eager_sglang_launch_prices_every_step_at_its_launch_time() -> None:
    """`--execution eager` (SGLang's --disable-cuda-graph): decode steps too last at least
    the host's launch of every layer, where vLLM's profile, which times no launches, prices
    them as graphs and says so."""
    eager = rooflens.analyze(DENSE, "h100-sxm", engine="sglang", execution="eager", gen_len=8)
    graphs = rooflens.analyze(DENSE, "h100-sxm", engine="sglang", gen_len=8)
    step = float(np.max(eager.steps["decode"].step_time()))
    assert step == pytest.approx(max(float(np.max(graphs.steps["decode"].step_time())),
                                     32 * 0.00042))  # fmt: skip
    assert step > float(np.max(graphs.steps["decode"].step_time()))
    assert eager.options.estimate.endswith("eager)")


def test_deepseek_r1s_prefill_row_in_engines_md_is_the_hosts_launch() -> None:
    """docs/engines.md: DeepSeek-R1's 1,024-token prefill on eight H200s under SGLang takes
    62 ms of kernels, and the host's 128 ms (61 x 0.42 + 58 x 1.77) launching it without
    graphs, as SGLang prefills latent attention."""
    from pathlib import Path

    run = rooflens.analyze(
        "deepseek-ai/DeepSeek-R1", "h200-sxm", engine="sglang", tp=8, prompt_len=1024
    )
    graphs = rooflens.analyze(
        "deepseek-ai/DeepSeek-R1", "h200-sxm", engine="sglang", tp=8, prompt_len=1024,
        prefill_graph_tokens=1024,
    )  # fmt: skip
    assert run.steps["prefill"].moe_layers == 58
    assert round(1e3 * _prefill(run)) == 128 and round(1e3 * _prefill(graphs)) == 62
    doc = " ".join((Path(__file__).parents[1] / "docs/engines.md").read_text("utf-8").split())
    assert "takes 62 ms of kernels over 61 layers" in doc
    assert "is now the host's 128 ms (61 x 0.42 + 58 x 1.77)" in doc


def test_the_note_comes_from_the_engines_own_rules() -> None:
    """SGLang says why its release runs no prefill graph; vLLM and TensorRT-LLM, whose rules
    rooflens does not read (no launch time measured), say nothing."""
    from rooflens.engines import prefill_graphs_note

    h100 = get_device("h100-sxm")
    qwen = rooflens.load_model("Qwen/Qwen3.5-397B-A17B")
    assert prefill_graphs_note("sglang", h100, "0.5.14", qwen) == (
        "SGLang 0.5.14 turns them off for a multimodal model"
    )
    assert prefill_graphs_note("sglang", h100, "0.5.17", qwen) is None
    assert prefill_graphs_note("sglang", h100, "0.5.12", None, drafting=True) == (
        "SGLang 0.5.12 turns them off for speculative decoding"
    )
    for engine in ("vllm", "trtllm", "transformers"):
        assert prefill_graphs_note(engine, h100, "0.5.9", qwen) is None
