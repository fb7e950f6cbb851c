"""Naming models offline: fast failure, "did you mean", and base/instruct twins."""

from __future__ import annotations

import socket
import time

import huggingface_hub
import pytest

import rooflens
from rooflens.core.errors import ModelConfigError, ModelFetchError, UnknownModelError
from rooflens.models import catalog


@pytest.fixture
def no_network(monkeypatch) -> list[tuple[str, int]]:
    """Nothing cached, no connection possible; records the connection attempts."""
    attempts: list[tuple[str, int]] = []

    def refuse_connection(address, timeout=None, *_: object) -> socket.socket:
        attempts.append(address)
        raise OSError(101, "Network is unreachable")

    def cache_only(*, local_files_only: bool = False, **_: object) -> str:
        # A call that may reach the network would retry for ~23 s: it must not be made.
        assert local_files_only, "the Hub was contacted although it is unreachable"
        raise FileNotFoundError("not in the local cache")

    monkeypatch.setattr(socket, "create_connection", refuse_connection)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", cache_only)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    return attempts


def test_unknown_hub_id_fails_in_under_a_second_offline(no_network) -> None:
    start = time.perf_counter()
    with pytest.raises(ModelFetchError) as err:
        rooflens.load_model("mistralai/Mixtral-8x7B-v0.2")
    assert time.perf_counter() - start < 1.0
    assert no_network == [("huggingface.co", 443)]  # one attempt, no retries
    message = str(err.value)
    assert "offline: cannot connect to huggingface.co:443: Network is unreachable" in message
    assert "did you mean" in message and "mistralai/Mixtral-8x7B-Instruct-v0.1" in message


def test_hf_hub_offline_fails_without_trying_the_network(no_network, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelFetchError, match="HF_HUB_OFFLINE is set"):
        rooflens.load_model("someone/not-bundled-model")
    assert time.perf_counter() - start < 1.0
    assert no_network == []


def test_a_hung_name_lookup_is_cut_at_the_timeout(monkeypatch) -> None:
    def hang(*_: object, **__: object) -> socket.socket:
        time.sleep(3)  # a name lookup that never answers in time
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    for proxy in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    start = time.perf_counter()
    why = catalog._hub_unreachable("https://huggingface.co", timeout=0.2)
    assert time.perf_counter() - start < 1.0
    assert why == "no answer from huggingface.co:443 within 0.2 s"


def test_the_probe_goes_through_the_https_proxy(no_network, monkeypatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert "proxy.example:3128" in catalog._hub_unreachable("https://huggingface.co")
    assert no_network == [("proxy.example", 3128)]


def test_cached_config_is_read_without_the_network(no_network, monkeypatch, tmp_path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(
        '{"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,'
        ' "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}'
    )
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda **kw: str(cfg))
    assert rooflens.load_model("someone/cached").hidden_size == 64
    assert no_network == []


def test_a_corrupt_cached_config_is_reported_as_such(no_network, monkeypatch, tmp_path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text("{not json")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda **kw: str(cfg))
    with pytest.raises(ModelConfigError, match="not valid JSON"):
        rooflens.load_model("someone/cached")
    assert no_network == []


def test_hf_hub_offline_false_still_tries_the_network(no_network, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "false")
    with pytest.raises(ModelFetchError, match="offline: cannot connect"):
        rooflens.load_model("someone/not-bundled-model")
    assert len(no_network) == 1


def test_base_id_resolves_to_the_bundled_instruct_twin_with_a_note(no_network) -> None:
    base = rooflens.load_model("mistralai/Mixtral-8x7B-v0.1")
    instruct = rooflens.load_model("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert base.name == (
        "mistralai/Mixtral-8x7B-v0.1 (config of bundled mistralai/Mixtral-8x7B-Instruct-v0.1: "
        "same architecture)"
    )
    assert base.model_dump(exclude={"name"}) == instruct.model_dump(exclude={"name"})
    chat = rooflens.load_model("Llama-3.1-8B-Instruct")  # short name, case of the pair table
    assert chat.name.endswith("(config of bundled meta-llama/Llama-3.1-8B: same architecture)")
    assert no_network == []


def test_a_twin_with_another_vocabulary_is_not_substituted(no_network) -> None:
    # Mixtral-8x22B-Instruct has a 32768-token vocabulary, the bundled base 32000.
    with pytest.raises(ModelFetchError, match=r"did you mean .*mistral-community/Mixtral-8x22B"):
        rooflens.load_model("mistralai/Mixtral-8x22B-Instruct-v0.1")


def test_did_you_mean_compares_short_names_with_short_names() -> None:
    # nvidia/Llama-3.1-8B-Instruct-FP8's short name is the closest; the base follows.
    assert catalog.nearest_bundled("Llama-3.1-8B-Instruc")[:2] == [
        "nvidia/Llama-3.1-8B-Instruct-FP8",
        "meta-llama/Llama-3.1-8B",
    ]
    assert "mistralai/Mixtral-8x7B-Instruct-v0.1" in catalog.nearest_bundled("MIXTRAL-8x7B-v0.3")
    with pytest.raises(UnknownModelError, match=r"did you mean .*meta-llama/Llama-3\.1-8B"):
        rooflens.load_model("Llama-3.1-8B-Instruc")


def test_every_twin_points_at_a_bundled_config() -> None:
    bundled = rooflens.bundled_models()
    for unbundled, twin in catalog._SAME_ARCHITECTURE.items():
        assert twin in bundled and unbundled not in bundled


def test_the_bundled_catalogs_are_read_only() -> None:
    """They were the cached dicts themselves: `rooflens.hardware_catalog()['a6000'] = ...`
    changed what every later analysis in the process priced."""
    import rooflens

    for shared in (rooflens.hardware_catalog(), rooflens.bundled_models()):
        with pytest.raises(TypeError):
            shared["x"] = shared[next(iter(shared))]  # type: ignore[index]
    assert rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000").device.name == "a6000"
