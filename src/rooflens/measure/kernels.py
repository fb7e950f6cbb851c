"""Each analysis operator as a torch call on tensors of the analysed shapes, to time alone."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from rooflens.core.operators import (
    Activation,
    AttentionScores,
    AttentionValues,
    Embedding,
    ExpertLinear,
    FlashAttention,
    LatentAttention,
    Linear,
    Norm,
    Operator,
    ResidualAdd,
    Softmax,
    expected_experts_hit,
)

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": F.silu,
    "swish": F.silu,
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


def operator_call(
    op: Operator, batch: int, new_tokens: int, past: int, dtype: torch.dtype, device: str
) -> Callable[[], object] | None:
    """A zero-argument call doing `op`'s work for one step, or None for an operator kind with
    no single torch equivalent."""

    def t(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, dtype=dtype, device=device)

    tokens, keys = batch * new_tokens, past + new_tokens
    if isinstance(op, LatentAttention):
        return _latent_attention(op, batch, new_tokens, keys, t)
    if isinstance(op, ExpertLinear):
        # A grouped GEMM: the routed rows spread evenly over the experts they hit.
        hit = max(
            1, round(float(expected_experts_hit(op.num_experts, op.top_k, np.array(float(tokens)))))
        )
        rows = max(1, round(tokens * op.top_k))
        per = -(-rows // hit)
        x, w = t(hit, per, op.in_features), t(hit, op.in_features, op.out_features)
        return lambda: torch.bmm(x, w).reshape(hit * per, op.out_features)[:rows]
    if isinstance(op, Linear):
        rows = batch if op.last_token_only else tokens
        x, w = t(rows, op.in_features), t(op.out_features, op.in_features)
        b = t(op.out_features) if op.bias else None
        return lambda: F.linear(x, w, b)
    if isinstance(op, Embedding):
        table = t(op.rows, op.width)
        ids = torch.randint(0, op.rows, (tokens,), device=device)
        if op.add_to_input:
            h = t(tokens, op.width)
            return lambda: h + F.embedding(ids, table)
        return lambda: F.embedding(ids, table)
    if isinstance(op, Norm):
        x = t(tokens * op.repeats, op.width)
        weight = t(op.width)
        if op.kind == "rmsnorm":
            return lambda: F.rms_norm(x, (op.width,), weight)
        bias = t(op.width) if op.bias else None
        return lambda: F.layer_norm(x, (op.width,), weight, bias)
    if isinstance(op, Activation):
        act = ACTIVATIONS.get(op.function)
        if act is None:
            return None
        width = max(1, round(op.width))
        g = t(tokens, width)
        if op.gated:
            u = t(tokens, width)
            return lambda: act(g) * u
        return lambda: act(g)
    if isinstance(op, ResidualAdd):
        xs = [t(tokens, op.width) for _ in op.inputs]
        return lambda: torch.stack(xs).sum(0) if len(xs) > 2 else xs[0] + xs[1]
    if isinstance(op, FlashAttention):
        q = t(batch, op.num_heads, new_tokens, op.head_dim)
        k, v = (
            t(batch, op.num_kv_heads, keys, op.head_dim),
            t(batch, op.num_kv_heads, keys, op.v_dim or op.head_dim),
        )
        causal = past == 0 and new_tokens > 1
        return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    if isinstance(op, AttentionScores | AttentionValues | Softmax):
        return _eager_attention_part(op, batch, new_tokens, keys, t)
    return None


def _latent_attention(
    op: LatentAttention, batch: int, q_len: int, keys: int, t: Callable[..., torch.Tensor]
) -> Callable[[], object]:
    """MLA as engines run it: decompress K/V for a prefill, absorb W_UK/W_UV to decode."""
    h, nope, r, v, c = op.num_heads, op.head_dim - op.rope_dim, op.rope_dim, op.v_dim, op.kv_lora
    q, latent, rope_k = t(batch, q_len, h, nope + r), t(batch, keys, c), t(batch, keys, r)
    if q_len == 1:
        w_uk, w_uv = t(h, nope, c), t(h, c, v)

        def absorbed() -> torch.Tensor:
            q_latent = torch.einsum("bqhn,hnc->bqhc", q[..., :nope], w_uk)
            scores = torch.einsum("bqhc,bkc->bhqk", q_latent, latent)
            scores = scores + torch.einsum("bqhr,bkr->bhqk", q[..., nope:], rope_k)
            out = torch.einsum("bhqk,bkc->bqhc", torch.softmax(scores, -1), latent)
            return torch.einsum("bqhc,hcv->bqhv", out, w_uv)

        return absorbed
    w_kv = t(c, h * (nope + v))

    def decompressed() -> torch.Tensor:
        kv = (latent @ w_kv).view(batch, keys, h, nope + v)
        k = torch.cat([kv[..., :nope], rope_k[:, :, None, :].expand(-1, -1, h, -1)], -1)
        return F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), kv[..., nope:].transpose(1, 2), is_causal=True
        )

    return decompressed


def _eager_attention_part(
    op: Operator, batch: int, q_len: int, keys: int, t: Callable[..., torch.Tensor]
) -> Callable[[], object]:
    if isinstance(op, Softmax):
        s = t(batch, op.num_heads, q_len, keys)
        return lambda: torch.softmax(s, dim=-1)
    group = op.num_heads // op.num_kv_heads  # type: ignore[attr-defined]
    d = op.head_dim  # type: ignore[attr-defined]
    if isinstance(op, AttentionValues):
        d = op.v_dim or d  # values narrower than the keys (MiMo-V2)
    kv = t(batch, op.num_kv_heads, 1, keys, d).expand(-1, -1, group, -1, -1)  # type: ignore[attr-defined]
    if isinstance(op, AttentionScores):
        q = t(batch, op.num_kv_heads, group, q_len, d)
        return lambda: q @ kv.transpose(-1, -2)
    p = t(batch, op.num_kv_heads, group, q_len, keys)  # type: ignore[attr-defined]
    return lambda: p @ kv
