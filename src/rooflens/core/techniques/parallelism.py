"""Parallelism over devices (Megatron-LM, Shoeybi et al. 2019; GShard, DeepSpeed-MoE; GPipe):
the slice of the model one device holds, the collectives tensor and expert parallelism add
to its graph, and the link they run on. Pipeline stages' hand-offs are priced in
`rooflens.core.analysis`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError
from rooflens.core.model import ModelSpec
from rooflens.core.operators import Collective, Operator
from rooflens.core.options import (
    DEFAULT_LINK_LATENCY,
    DEFAULT_NETWORK_LATENCY,
    AnalysisOptions,
    Parallelism,
)

if TYPE_CHECKING:
    from rooflens.core.hardware import Device


def local_model(model: ModelSpec, par: Parallelism) -> ModelSpec:
    """The slice of the model one device holds: Megatron-LM splits attention heads, MLP width
    and vocabulary over `tp` devices (KV heads are replicated when fewer than `tp`), pipeline
    parallelism the layers over `pp` stages."""
    tp, pp = par.tp, par.pp
    h, kv, inter = model.num_heads, model.num_kv_heads, model.intermediate_size
    widths = [width for width, _ in model.mlp_widths] or [inter]
    # The mixer first: an attention-free model's attention and MLP widths are its mixer's
    # (models.readers.mamba), which the refusal names.
    if model.mixer is not None and not model.mixer.splits_over(tp):
        raise InvalidInputError(
            "tp",
            tp,
            f"a divisor of {model.name}'s {model.mixer.num_heads} recurrent-mixer heads that "
            f"divides, or is a multiple of, its {model.mixer.num_key_heads} key heads",
        )
    if h % tp or any(width % tp for width in widths) or (kv % tp and tp % kv):
        mlp = f"{inter} MLP width" if len(widths) == 1 else f"MLP widths {widths}"
        raise InvalidInputError(
            "tp",
            tp,
            f"a divisor of {model.name}'s {h} attention heads and {mlp} "
            f"that divides, or is a multiple of, its {kv} KV heads",
        )
    if pp > model.num_layers:
        raise InvalidInputError("pp", pp, f"at most the {model.num_layers} layers of {model.name}")
    ep = par.ep
    if not model.is_moe and ep > 1:
        # Nothing would be spread: a dense model priced as if ep were 1, without a word.
        raise InvalidInputError("ep", ep, f"1: {model.name} has no routed experts")
    if not model.is_moe and par.moe_tp is not None and par.moe_tp != par.tp:
        # The expert groups it would make counted devices that no expert runs on (a dense
        # model at moe_tp 2 was priced on 2 devices, as 2 groups of 1).
        raise InvalidInputError(
            "moe_tp",
            par.moe_tp,
            f"empty or tp ({par.tp}): {model.name} has no routed experts to split",
        )
    if model.is_moe and model.num_experts % ep:
        raise InvalidInputError(
            "ep", ep, f"a divisor of {model.name}'s {model.num_experts} experts"
        )
    # Routed experts split over expert_tp (moe_tp inside the tp group), shared experts over tp.
    moe_tp = par.expert_tp
    routed, shared = model.expert_intermediate_size, model.shared_intermediate_size
    if (routed and routed % moe_tp) or (shared and shared % tp):
        widths = [w for w in (routed, shared) if w]
        field, value = ("moe_tp", moe_tp) if routed and routed % moe_tp else ("tp", tp)
        raise InvalidInputError(field, value, f"a divisor of {model.name}'s expert widths {widths}")
    if model.o_groups and model.o_groups % tp:
        raise InvalidInputError(
            "tp", tp, f"a divisor of {model.name}'s {model.o_groups} output-projection groups"
        )
    gkv = model.global_kv_heads
    if gkv is not None and gkv % tp and tp % gkv:
        raise InvalidInputError(
            "tp", tp, f"a divisor or multiple of {model.name}'s {gkv} global-layer KV heads"
        )
    global_heads = model.global_heads
    if global_heads is not None and global_heads % tp:
        raise InvalidInputError(
            "tp", tp, f"a divisor of {model.name}'s {global_heads} global-layer attention heads"
        )
    if tp == 1 and pp == 1 and ep == 1 and moe_tp == 1:
        return model
    experts = {}
    if routed:
        experts["expert_intermediate_size"] = routed // moe_tp
    if shared:
        experts["shared_intermediate_size"] = shared // tp
    if model.is_moe and ep > 1:
        # Each device holds E/ep experts and receives k/ep of each token's routes on average.
        experts["num_experts"] = model.num_experts // ep
        experts["experts_per_token"] = model.experts_per_token / ep
    if model.mixer is not None:
        experts["mixer"] = model.mixer.split(tp)
    if gkv is not None:
        experts["global_kv_heads"] = max(gkv // tp, 1)
    if global_heads is not None:
        experts["global_heads"] = global_heads // tp
    if model.o_groups:
        # DeepSeek-V4's grouped output projection splits with its heads.
        experts["o_groups"] = model.o_groups // tp
    return model.model_copy(
        update=experts
        | {
            "num_heads": h // tp,
            "num_kv_heads": max(kv // tp, 1),
            "intermediate_size": inter // tp,
            "mlp_widths": tuple((width // tp, layers) for width, layers in model.mlp_widths),
            "vocab_size": -(-model.vocab_size // tp),
            "num_layers": -(-model.num_layers // pp),
            "model_layers": model.num_layers,
        }
    )


def expert_parallel(
    ops: list[Operator],
    model: ModelSpec,
    local: ModelSpec,
    options: AnalysisOptions,
    device: Device | None,
) -> list[Operator]:
    """Expert parallelism: all-to-all exchanges around the routed experts. Inside the tp group
    (moe_tp set, one attention group) there are none: every device already holds every token
    after attention, and tensor parallelism's all-reduce after the experts combines their
    outputs. Over attention groups at an expert TP of their own (moe_tp set, groups > 1), an
    all-gather and a reduce-scatter over the groups."""
    par = options.parallelism
    groups = par.expert_token_groups
    if groups <= 1 or not model.is_moe:
        return ops
    link = options.calibration
    bandwidth = link_bandwidth(device, par, par.tp * groups, link)
    latency = link_latency(par, link, device, par.tp * groups)
    if par.moe_tp is not None:
        return _gather_scatter(ops, model, groups, bandwidth, latency)
    return _expert_parallel(ops, model, par, bandwidth, latency)


def _gather_scatter(
    ops: list[Operator], model: ModelSpec, groups: int, bandwidth: float, latency: float
) -> list[Operator]:
    """vLLM's default exchange under data and expert parallelism (its `allgather_reducescatter`
    all2all backend): every device gathers the hidden states of the other groups' tokens
    before the experts, which run on all of them, and a reduce-scatter returns each group the
    sum of the experts' outputs for its tokens. Ring costs: (g-1)/g of the g groups' rows
    each way, the reduce-scatter priced as the all-gather it mirrors."""
    exchange = {
        "kind": "all_gather",
        # One row per token of this group: the gathered rows of all groups.
        "width": groups * (model.expert_latent_size or model.hidden_size),
        "ranks": groups,
        "link_bandwidth": bandwidth,
        "link_latency": latency,
    }
    names = {
        "router": ("moe_all_gather", "gathered_in"),
        "expert_down_proj": ("moe_reduce_scatter", "scattered"),
    }
    return _around_experts(ops, names, exchange)


def tensor_parallel(
    ops: list[Operator],
    model: ModelSpec,
    local: ModelSpec,
    options: AnalysisOptions,
    device: Device | None,
) -> list[Operator]:
    """Tensor parallelism: Megatron-LM's all-reduces and the logits' all-gather."""
    par = options.parallelism
    if par.tp <= 1:
        return ops
    link = options.calibration
    bandwidth = link_bandwidth(device, par, par.tp, link)
    return _tensor_parallel(ops, model, par, bandwidth, link_latency(par, link, device, par.tp))


def _expert_parallel(
    ops: list[Operator], model: ModelSpec, par: Parallelism, bandwidth: float, latency: float
) -> list[Operator]:
    """Send each token's hidden state to its experts' devices after routing, and the expert
    outputs back before combining them."""
    exchange = {
        "kind": "all_to_all",
        # Latent MoE dispatches the narrower latent (its purpose).
        "width": model.expert_latent_size or model.hidden_size,
        "ranks": par.ep,
        "link_bandwidth": bandwidth,
        "link_latency": latency,
        "fan_out": model.experts_per_token,
    }
    names = {
        "router": ("moe_dispatch", "dispatched"),
        "expert_down_proj": ("moe_gather", "gathered"),
    }
    return _around_experts(ops, names, exchange)


def _around_experts(
    ops: list[Operator], names: dict[str, tuple[str, str]], exchange: dict[str, Any]
) -> list[Operator]:
    """`ops` with a collective (name, output) after each operator `names` keys: the router
    and the experts' down projection."""
    out: list[Operator] = []
    for op in ops:
        out.append(op)
        if op.name in names:
            name, output = names[op.name]
            out.append(
                Collective(name, "block", (op.output,), output, layers=op.layers, **exchange)
            )
    return out


def link_bandwidth(
    device: Device | None,
    par: Parallelism,
    ranks: int = 1,
    calibrated: EfficiencyProfile | None = None,
) -> float:
    """Bandwidth between the devices of a group: the override, else the device's network
    bandwidth once the group spans nodes; within a node, the bandwidth fitted on measured
    collectives, else the device's interconnect (or host link)."""
    if par.link_bandwidth:
        return float(par.link_bandwidth)
    per_node = device.devices_per_node if device else None
    if device and per_node and ranks > per_node:
        if not device.network_bandwidth:
            raise InvalidInputError(
                "link_bandwidth",
                None,
                f"a link bandwidth: {ranks} devices span nodes of {per_node} and {device.name} "
                "lists no network bandwidth",
            )
        return float(device.network_bandwidth)
    if calibrated is not None and calibrated.link_bandwidth:
        return float(calibrated.link_bandwidth)
    bandwidth = device and (device.interconnect_bandwidth or device.host_bandwidth)
    if device and device.interconnect_bandwidth:
        group, links = device.interconnect_group, device.interconnect_links
        if group and ranks > group:
            # Beyond the cards a bridge joins, the ring crosses the host link (PCIe).
            bandwidth = device.host_bandwidth
        elif links and ranks > 1:
            # A mesh: the group's k - 1 links to its peers (all of them at a full node).
            bandwidth = device.interconnect_bandwidth * min(ranks - 1, links) / links
    if not bandwidth:
        raise InvalidInputError(
            "link_bandwidth",
            None,
            "a link bandwidth in bytes/s: the device lists neither interconnect nor host link",
        )
    return float(bandwidth)


def link_latency(
    par: Parallelism,
    calibrated: EfficiencyProfile | None = None,
    device: Device | None = None,
    ranks: int = 1,
) -> float:
    """Time per ring step: the override, else the network's default once the group spans
    nodes, else the one fitted on measured collectives, else the default within a node."""
    if par.link_latency is not None:
        return float(par.link_latency)
    per_node = device.devices_per_node if device else None
    if per_node and ranks > per_node:
        return DEFAULT_NETWORK_LATENCY
    if calibrated is not None and calibrated.link_latency is not None:
        return float(calibrated.link_latency)
    return DEFAULT_LINK_LATENCY


def _whole_qk_norm_statistics(
    k_norm: Operator, par: Parallelism, bandwidth: float, latency: float
) -> Collective:
    """q/k norms over the whole projection (MiniMax-M2) with its heads split over `tp`
    devices: each device sums its share of the squares, and one all-reduce of both sums (two
    FP32 values per token) gives every device the whole (vLLM's
    MiniMaxText01RMSNormTP.forward_qk)."""
    return Collective(
        "qk_norm_all_reduce",
        k_norm.scope,
        (k_norm.output,),
        "qk_norm_statistics",
        kind="all_reduce",
        width=2,
        value_bytes=4.0,
        ranks=par.tp,
        link_bandwidth=bandwidth,
        link_latency=latency,
        layers=k_norm.layers,
    )


def _gathered_for_norm(
    norm: Operator, par: Parallelism, bandwidth: float, latency: float
) -> Collective:
    """OLMo's whole-projection q or k norm with its heads split over `tp` devices: each
    device gathers every device's share, norms the whole and keeps its own share again (vLLM's
    and SGLang's Olmo2Attention._apply_qk_norm)."""
    source = norm.inputs[0]
    return Collective(
        f"{norm.name[0]}_all_gather",
        norm.scope,
        (source,),
        f"{source}_whole",
        kind="all_gather",
        width=getattr(norm, "width", 0) * par.tp,
        ranks=par.tp,
        link_bandwidth=bandwidth,
        link_latency=latency,
        layers=norm.layers,
    )


def _tensor_parallel(
    ops: list[Operator], model: ModelSpec, par: Parallelism, bandwidth: float, latency: float
) -> list[Operator]:
    """Insert Megatron-LM's collectives: an all-reduce after the vocabulary-parallel embedding
    and after each row-parallel projection (one per branch, or one per parallel block), and an
    all-gather of the vocabulary-parallel logits."""
    # Mamba-1's x_proj is row-parallel too (vLLM's MambaMixer: RowParallelLinear over the
    # split inner width): its dt, B and C values are all-reduced before the scan reads them.
    reduce_once = model.parallel_block and not model.parallel_reduce_each
    reduce_after = {"embed_tokens", "down_proj", "mixer_out_proj", "mixer_x_proj"} | (
        set() if reduce_once else {"o_proj"}
    )
    if model.is_moe:
        reduce_after.add("moe_combine" if model.shared_intermediate_size else "expert_down_proj")
    renamed: dict[str, str] = {}
    out: list[Operator] = []
    for op in ops:
        op = replace(op, inputs=tuple(renamed.get(name, name) for name in op.inputs))
        if op.name in ("q_norm", "k_norm") and model.qk_norm_gathered:
            gather = _gathered_for_norm(op, par, bandwidth, latency)
            out.append(gather)
            op = replace(op, inputs=(gather.output,), width=gather.width)
        out.append(op)
        if op.name == "k_norm" and model.qk_norm_whole and not model.qk_norm_gathered:
            out.append(_whole_qk_norm_statistics(op, par, bandwidth, latency))
        if op.name not in reduce_after and op.name != "lm_head":
            continue
        gather = op.name == "lm_head"
        width = (
            model.vocab_size
            if gather
            else getattr(op, "out_features", 0) or getattr(op, "width", 0)
        )
        out.append(
            Collective(
                f"{op.name}_{'all_gather' if gather else 'all_reduce'}",
                op.scope,
                (op.output,),
                f"{op.output}_tp",
                kind="all_gather" if gather else "all_reduce",
                width=width,
                ranks=par.tp,
                link_bandwidth=bandwidth,
                link_latency=latency,
                last_token_only=gather,
                layers=op.layers,
            )
        )
        renamed[op.output] = f"{op.output}_tp"
    return out
