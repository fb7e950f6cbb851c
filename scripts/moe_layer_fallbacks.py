"""Leave-one-out check of how rooflens prices a MoE layer shape the operator tables do not
time (docs/engines.md, `moe_layers`): each timed bf16 layer of one
engine profile, at TP 1 and EP 1, priced three ways at decode batches of 1, 16 and 128 - by
its own curve, with that curve hidden (the nearest timed layer of its widths prices it,
`nearest_layer`), and with every layer of its widths hidden (the class's grid over all
shapes prices it) - and the expert GEMMs' time of the last two set against the first.

    python scripts/moe_layer_fallbacks.py ENGINE DEVICE [SHAPES]

SHAPES: how many timed shapes, drawn with a fixed seed (default 40)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from rooflens.api import analyze
from rooflens.core.efficiency import layer_shape
from rooflens.engines import load_engine_profile

# A Qwen3-MoE layout of one layer, its widths and experts set per shape.
BASE = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "head_dim": 128,
    "hidden_act": "silu", "intermediate_size": 6144, "max_position_embeddings": 40960,
    "mlp_only_layers": [], "decoder_sparse_step": 1, "norm_topk_prob": True,
    "num_hidden_layers": 1, "rms_norm_eps": 1e-6, "rope_theta": 1e6, "vocab_size": 4096,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}  # fmt: skip
WIDE = (2048, 2880, 3072, 4096, 5120, 6144, 7168)


def expert_time(config: Path, device: str, profile: object, batch: int) -> float:
    decode = analyze(str(config), device, batch=batch, prompt_len=512, gen_len=2,
                     calibration=profile).steps["decode"]  # fmt: skip
    rows = [i for i, name in enumerate(decode.placement.names) if name.startswith("expert_")]
    return float(sum(np.ravel(decode.time[i])[0] for i in rows))


def main(engine: str, device: str, shapes: int = 40) -> None:
    profile = load_engine_profile(engine, device)
    layers = profile.layers
    timed = {}
    for key in layers:
        kind, _, layer = key.partition("/")
        shape = layer_shape(layer)
        if kind != "bf16" or shape is None:
            continue
        wide, narrow = (int(x) for x in shape[0].split("x"))
        experts, top_k = shape[1], shape[2]
        if top_k.is_integer() and experts >= top_k and wide in WIDE:
            timed[key] = (wide, narrow, experts, int(top_k))
    keys = sorted(timed)
    np.random.default_rng(0).shuffle(keys)
    errors = {"nearest": [], "grid": []}
    with tempfile.TemporaryDirectory() as folder:
        for key in keys[:shapes]:
            wide, narrow, experts, top_k = timed[key]
            widths = key.split(":")[0] + ":"
            if not any(k.startswith(widths) and k != key for k in layers):
                continue  # no other layer of its widths: the nearest is the grid
            config = Path(folder) / "config.json"
            config.write_text(json.dumps(BASE | {
                "hidden_size": wide, "moe_intermediate_size": narrow, "num_experts": experts,
                "num_experts_per_tok": top_k, "num_attention_heads": max(1, wide // 128),
                "num_key_value_heads": max(1, wide // 1024),
            }))  # fmt: skip
            hidden = {k: v for k, v in layers.items() if k != key}
            no_widths = {k: v for k, v in layers.items() if not k.startswith(widths)}
            nearest = profile.with_stored_layers(lambda hidden=hidden: hidden)
            grid = profile.with_stored_layers(lambda no_widths=no_widths: no_widths)
            for batch in (1, 16, 128):
                own = expert_time(config, device, profile, batch)
                errors["nearest"].append(expert_time(config, device, nearest, batch) / own - 1)
                errors["grid"].append(expert_time(config, device, grid, batch) / own - 1)
    for name, values in errors.items():
        miss = np.abs(values)
        median, p90 = 100 * np.median(miss), 100 * np.quantile(miss, 0.9)
        print(f"{engine} {device} {name}: {len(miss)} points, |error| median {median:.1f} %, "
              f"p90 {p90:.1f} %")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
