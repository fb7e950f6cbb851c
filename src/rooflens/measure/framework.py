"""Framework kernels as a model really runs them: its own norm modules (an unfused RMSNorm is
several kernels), its gated activation (act_fn(gate) * up: two), Qwen3's per-head q/k norms,
and a mixture-of-experts layer taken apart (router GEMM and top-k, token permutation, the
experts as the model calls them, and the whole block). Each row carries the kernels the call
launched and the bytes they moved, counted from the aten operators it dispatched, beside the
analysis operator it stands for, so a fit can price the extra kernels from the model.

The counts come from torch's own dispatch: every aten operator that is not a view is one
kernel; its bytes are the tensors it reads plus those it writes. Fused kernels (a CUDA build's
fused RMSNorm) count once, as they run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from rooflens.measure.timing import time_kernel

# Allocations: no kernel (empty) or a fill that reads no input data (only its shape).
ALLOCATIONS = frozenset({"empty", "empty_like", "new_empty", "empty_strided"})
FILLS = frozenset(
    {"zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "new_zeros", "arange"}
)


class _KernelCounter(TorchDispatchMode):
    """Counts the non-view aten operators dispatched, and the bytes they read and write."""

    def __init__(self) -> None:
        super().__init__()
        self.kernels = 0
        self.bytes = 0
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        read = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        written = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        # A kernel writes: new memory, or its input in place. A view (or a `to` that changes
        # nothing) only returns its input's memory.
        inputs = {t.untyped_storage().data_ptr() for t in read}
        fresh = any(t.untyped_storage().data_ptr() not in inputs for t in written)
        in_place = any(
            r.alias_info is not None and r.alias_info.is_write for r in func._schema.returns
        )
        name = func.__name__.split(".")[0]
        if (fresh or in_place) and name not in ALLOCATIONS:
            self.kernels += 1
            self.names.append(func.__name__)
            moved = written if name in FILLS else read + written
            self.bytes += sum(t.numel() * t.element_size() for t in moved)
        return out


def count_kernels(call: Callable[[], object]) -> dict[str, Any]:
    """Kernels `call` launches and bytes they move, from one untimed call."""
    with torch.inference_mode(), _KernelCounter() as counter:
        call()
    return {"kernels": counter.kernels, "kernel_bytes": counter.bytes, "aten": counter.names}


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder layers of a transformers causal LM, whatever the family calls them."""
    base = model.base_model
    for path in ("layers", "h", "decoder.layers", "blocks"):
        found: Any = base
        for part in path.split("."):
            found = getattr(found, part, None)
        if isinstance(found, torch.nn.ModuleList):
            return found
    raise ValueError(f"{type(model).__name__}: no list of decoder layers found")


def _first(model: torch.nn.Module, names: tuple[str, ...]) -> torch.nn.Module | None:
    """The first decoder layer's submodule at one of the dotted `names`, if any."""
    layer = decoder_layers(model)[0]
    for name in names:
        module: Any = layer
        for part in name.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if module is not None:
            return module
    return None


def _moe_block(model: torch.nn.Module) -> torch.nn.Module | None:
    """The first layer whose MLP routes tokens to experts (transformers 5: .gate and .experts)."""
    for layer in decoder_layers(model):
        mlp = getattr(layer, "mlp", None) or getattr(layer, "block_sparse_moe", None)
        if mlp is not None and hasattr(mlp, "gate") and hasattr(mlp, "experts"):
            return mlp
    return None


def _routing(gate: torch.nn.Module, x: torch.Tensor, top_k: int) -> tuple[torch.Tensor, ...]:
    """(indices, weights) of top-k routing: transformers 5's routers return them; a plain
    linear gate gets softmax and top-k added, as older releases did."""
    out = gate(x)
    if isinstance(out, torch.Tensor):
        weights, indices = torch.topk(torch.softmax(out.float(), -1), top_k, -1)
        return indices, weights.to(x.dtype)
    indices = next(t for t in reversed(out) if not t.is_floating_point())
    weights = next(t for t in out if t.is_floating_point() and t.shape == indices.shape)
    return indices, weights


def framework_calls(
    model: torch.nn.Module, batch: int, new_tokens: int
) -> dict[str, tuple[str, Callable[[], Callable[[], object]]]]:
    """Each framework kernel of `model` at (batch, new_tokens): its analysis operator's name and
    a maker of zero-argument calls on fresh inputs (rotated by the timer past the caches)."""
    config = model.config
    param = next(model.parameters())
    dtype, device = param.dtype, param.device
    tokens, hidden = batch * new_tokens, config.hidden_size

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, dtype=dtype, device=device)

    calls: dict[str, tuple[str, Callable[[], Callable[[], object]]]] = {}

    def module_call(module: torch.nn.Module, *shape: int) -> Callable[[], Callable[[], object]]:
        def make() -> Callable[[], object]:
            x = rand(*shape)
            return lambda: module(x)

        return make

    norm = _first(model, ("input_layernorm", "ln_1", "self_attn_layer_norm", "ln_attn"))
    if norm is not None:
        calls["attn_norm module"] = ("attn_norm", module_call(norm, batch, new_tokens, hidden))
    attn = _first(model, ("self_attn",))
    for name in ("q_norm", "k_norm"):
        head_norm = getattr(attn, name, None) if attn is not None else None
        if head_norm is not None:  # applied per head, on (batch, tokens, heads, head_dim)
            heads = config.num_attention_heads if name == "q_norm" else config.num_key_value_heads
            width = head_norm.weight.shape[-1]
            shape = (batch, new_tokens, heads, width)
            calls[f"{name} module"] = (name, module_call(head_norm, *shape))
    mlp = _first(model, ("mlp",))
    if mlp is not None and hasattr(mlp, "act_fn") and hasattr(mlp, "up_proj"):
        width = mlp.up_proj.out_features

        def gated() -> Callable[[], object]:
            g, u = rand(tokens, width), rand(tokens, width)
            return lambda: mlp.act_fn(g) * u  # as the MLP's forward writes it

        calls["gated activation as the MLP runs it"] = ("mlp_act", gated)
    if attn is not None:
        calls |= _attention_calls(attn, config, batch, new_tokens, rand)
    block = _moe_block(model)
    if block is not None:
        calls |= _moe_calls(block, config, tokens, hidden, rand)
    return calls


def _attention_calls(
    attn: torch.nn.Module,
    config: Any,
    batch: int,
    new_tokens: int,
    rand: Callable[..., torch.Tensor],
) -> dict[str, tuple[str, Callable[[], Callable[[], object]]]]:
    """The element-wise kernels around the attention kernel, as transformers' attention
    modules run them: rotary embedding of q and k (the module's own apply_rotary_pos_emb,
    where it has the common one), the static cache's write of k and v (index_copy_ into a
    cache of 2 x new tokens), and the output's transpose to contiguous."""
    import inspect

    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    calls: dict[str, tuple[str, Callable[[], Callable[[], object]]]] = {}
    rotary = getattr(inspect.getmodule(type(attn)), "apply_rotary_pos_emb", None)
    # transformers 5.25 wraps it in a module a hub kernel may replace: read its forward.
    signed = rotary.forward if isinstance(rotary, torch.nn.Module) else rotary
    if rotary is not None and list(inspect.signature(signed).parameters)[:4] == [
        "q",
        "k",
        "cos",
        "sin",
    ]:

        def rotate() -> Callable[[], object]:
            q, k = (
                rand(batch, heads, new_tokens, head_dim),
                rand(batch, kv_heads, new_tokens, head_dim),
            )
            cos, sin = rand(batch, new_tokens, head_dim), rand(batch, new_tokens, head_dim)
            return lambda: rotary(q, k, cos, sin)

        calls["rotary as the attention runs it"] = ("attention", rotate)

    def cache_write() -> Callable[[], object]:
        k, v = (
            rand(batch, kv_heads, new_tokens, head_dim),
            rand(batch, kv_heads, new_tokens, head_dim),
        )
        keys = rand(batch, kv_heads, 2 * new_tokens, head_dim)
        values = rand(batch, kv_heads, 2 * new_tokens, head_dim)
        where = torch.arange(new_tokens, 2 * new_tokens, device=k.device)

        def call() -> None:
            keys.index_copy_(2, where, k)
            values.index_copy_(2, where, v)

        return call

    def output_copy() -> Callable[[], object]:
        out = rand(batch, heads, new_tokens, head_dim)
        return lambda: out.transpose(1, 2).contiguous()

    calls["cache write (index_copy_)"] = ("attention", cache_write)
    calls["attention output to contiguous"] = ("attention", output_copy)
    return calls


def _moe_calls(
    block: torch.nn.Module,
    config: Any,
    tokens: int,
    hidden: int,
    rand: Callable[..., torch.Tensor],
) -> dict[str, tuple[str, Callable[[], Callable[[], object]]]]:
    """The MoE layer whole and in its parts, on one routing of random tokens."""
    top_k = config.num_experts_per_tok

    def router() -> Callable[[], object]:
        x = rand(tokens, hidden)
        return lambda: _routing(block.gate, x, top_k)

    def routed() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = rand(tokens, hidden)
        with torch.inference_mode():
            indices, weights = _routing(block.gate, x, top_k)
        return x, indices, weights

    def experts() -> Callable[[], object]:
        x, indices, weights = routed()
        return lambda: block.experts(x, indices, weights)

    def permutation() -> Callable[[], object]:
        # Engines' gather of each token's copies in expert order, and the weighted scatter-add
        # back: the data movement around grouped expert GEMMs.
        x, indices, weights = routed()
        order = torch.argsort(indices.reshape(-1), stable=True)
        source = order // top_k
        gate = weights.reshape(-1)[order, None].to(x.dtype)

        def call() -> torch.Tensor:
            gathered = x.index_select(0, source)
            return torch.zeros_like(x).index_add_(0, source, gathered * gate)

        return call

    def whole() -> Callable[[], object]:
        x = rand(1, tokens, hidden)
        return lambda: block(x)

    return {
        "moe router and top-k": ("router", router),
        "moe permutation (gather, scatter-add)": ("expert_gate_proj", permutation),
        "moe experts as the model calls them": ("expert_gate_proj", experts),
        "moe block whole": ("expert_gate_proj", whole),
    }


def time_framework_kernels(
    model: torch.nn.Module,
    batch: int,
    new_tokens: int,
    device: str,
    priced: Callable[[str], dict[str, float] | None] | None = None,
) -> list[dict[str, Any]]:
    """Each framework kernel of `model` timed alone, with its kernels and bytes counted, and
    `priced(operator)` (the analysis's ops and bytes of that operator at this step) beside it;
    one failing says why and the rest go on."""
    rows = []
    for kernel, (operator, make) in framework_calls(model, batch, new_tokens).items():
        row: dict[str, Any] = {
            "kernel": kernel,
            "operator": operator,
            "batch": batch,
            "new_tokens": new_tokens,
        }
        analysed = priced(operator) if priced is not None else None
        if analysed is not None:
            row |= {"roofline_ops": analysed["ops"], "roofline_bytes": analysed["bytes"]}
        try:
            row |= count_kernels(make())
            with torch.inference_mode():
                row["time"] = time_kernel(make, device, float(row["kernel_bytes"]))
        except (RuntimeError, ValueError, TypeError, StopIteration) as exc:
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        rows.append(row)
    return rows
