"""DeepSeek-V4 (model_type deepseek_v4; transformers' DeepseekV4Config): shared-KV MQA over a
128-token window plus compressed KV (CSA with a lightning indexer, HCA), a grouped low-rank
output projection, hyper-connections (`hc_mult` residual streams), MoE in every layer (the
first `num_hash_layers` routed by a token-id table) with one shared expert, and MTP modules.
Layer kinds come from `layer_types`, else the legacy per-layer `compress_ratios` (0: window
only), whose entry past the last layer is the MTP layer's."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import required_window

_RATIO_KINDS = {0: "sliding_attention"}
_DEFAULT_RATES = {"compressed_sparse_attention": 4, "heavily_compressed_attention": 128}


def _refuse(c: _Config, field: str, value: object, accepted: str) -> None:
    raise ModelConfigError(
        f"config.json of model_type {c.model_type!r}: {field}={value!r} is not supported; "
        f"supported: {accepted}"
    )


def _layer_kinds(c: _Config, layers: int, rates: dict[str, int]) -> list[str]:
    """Each layer's attention kind, from `layer_types` or `compress_ratios`."""
    types = c.get("layer_types", None)
    if types is None:
        ratios = c.req("compress_ratios", kind=list)
        by_ratio = {rate: kind for kind, rate in rates.items()} | _RATIO_KINDS
        unknown = [r for r in ratios if r not in by_ratio]
        if unknown or len(ratios) < layers:
            _refuse(c, "compress_ratios", ratios, f"{layers}+ entries among {sorted(by_ratio)}")
        if any(r for r in ratios[layers:]):
            # The MTP layer is priced as a window-only layer.
            _refuse(c, "compress_ratios", ratios[layers:], "0 past the last layer (MTP)")
        types = [by_ratio[r] for r in ratios[:layers]]
    if len(types) != layers:
        _refuse(c, "layer_types", types, f"{layers} entries")
    known = {"sliding_attention", *rates}
    if any(t not in known for t in types):
        _refuse(c, "layer_types", types, ", ".join(sorted(known)))
    return list(types)


def read_deepseek_v4(c: _Config, name: str) -> ModelSpec:
    layers = c.req("num_hidden_layers")
    rates = {**_DEFAULT_RATES, **(c.get("compress_rates", None) or {})}
    for field in ("compress_rate_csa", "compress_rate_hca"):
        if field in c.raw:
            csa = field.endswith("csa")
            rates["compressed_sparse_attention" if csa else "heavily_compressed_attention"] = c.req(
                field
            )
    types = _layer_kinds(c, layers, rates)
    if c.get("num_key_value_heads", 1) != 1:
        _refuse(c, "num_key_value_heads", c.raw["num_key_value_heads"], "1 (shared-KV MQA)")
    expert = c.req("moe_intermediate_size")
    shared = c.get("n_shared_experts", 1) or 0
    csa = types.count("compressed_sparse_attention")
    # transformers reads intermediate_size as moe_intermediate_size (the shared expert's).
    c = _Config({**c.raw, "intermediate_size": expert}, c.model_type)
    return _llama_like(
        c,
        name,
        head_dim=c.req("head_dim"),
        num_kv_heads=1,
        q_lora_rank=c.req("q_lora_rank"),
        sliding_window=required_window(c, 128, "DeepseekV4Config"),
        csa_ratio=rates["compressed_sparse_attention"],
        csa_layers=csa,
        hca_ratio=rates["heavily_compressed_attention"],
        hca_layers=types.count("heavily_compressed_attention"),
        index_heads=c.positive("index_n_heads", 64),
        index_head_dim=c.positive("index_head_dim", 128, MAX_WIDTH),
        index_topk=c.positive("index_topk", 512),
        o_groups=c.get("o_groups", 8),
        o_lora_rank=c.get("o_lora_rank", 1024),
        hc_streams=c.get("hc_mult", 4),
        hc_sinkhorn_iters=c.get("hc_sinkhorn_iters", 20),
        num_experts=c.req("n_routed_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=expert,
        shared_intermediate_size=expert * shared or None,
        mtp_layers=c.count("num_nextn_predict_layers"),
    )
