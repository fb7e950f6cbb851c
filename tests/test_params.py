"""Every bundled model's parameter count equals its published count.

Published figures, with their sources, are in data/published_params.toml. An exact figure must
match to the parameter; a rounded one (e.g. "6.74B") must equal ours rounded to its digits.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.mtp import mtp_params
from rooflens.core.vision import vision_params
from rooflens.models import SUPPORTED_MODEL_TYPES, bundled_models, load_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PUBLISHED = {
    entry["id"]: entry
    for entry in tomllib.loads(
        (Path(__file__).parent / "data" / "published_params.toml").read_text()
    )["model"]
}


def round_to_digits(value: int, digits: int) -> float:
    scale = 10 ** (math.floor(math.log10(value)) - digits + 1)
    return round(value / scale) * scale


def test_catalog_is_large_and_covers_every_supported_type() -> None:
    models = bundled_models()
    assert len(models) >= 25
    types = {load_model(m).model_type for m in models}
    required = {
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "gemma",
        "gemma2",
        "phi3",
        "opt",
        "gpt2",
        "gptj",
        "gpt_neox",
        "falcon",
    }
    assert required <= types, required - types
    assert types <= set(SUPPORTED_MODEL_TYPES)


def test_every_bundled_model_has_a_published_count() -> None:
    assert set(bundled_models()) <= set(PUBLISHED), set(bundled_models()) - set(PUBLISHED)


@pytest.mark.parametrize("model_id", sorted(bundled_models()))
def test_parameter_count_matches_published(model_id: str) -> None:
    published = PUBLISHED[model_id]
    spec = load_model(model_id)
    ours = build_graph(spec, AnalysisOptions()).params()
    # Published counts of multimodal models include the vision tower; some include the MTP
    # modules (`includes` in the entry says which).
    parts = {"vision": vision_params(spec), "mtp": mtp_params(spec)}
    ours += sum(parts[part] for part in published.get("includes", []))
    assert published["source"]
    if published["exact"]:
        assert ours == published["params"]
    else:
        digits = published["digits"]
        assert round_to_digits(ours, digits) == pytest.approx(
            round_to_digits(published["params"], digits)
        ), (ours, published["params"])


def test_rounding_helper() -> None:
    assert round_to_digits(6_738_415_616, 3) == pytest.approx(6.74e9)
    assert round_to_digits(124_439_808, 3) == pytest.approx(124e6)
