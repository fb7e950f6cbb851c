"""Token mixers with a fixed-size recurrent state: state-space (Mamba, Mamba2), linear
attention (Gated DeltaNet, Kimi Delta Attention, MiniMax lightning attention) and gated short
convolutions (LFM2).

Each layer keeps, per sequence, a state of `num_heads` matrices of `key_dim x head_dim` plus the
last `conv_kernel - 1` inputs of a short causal convolution, whatever the context length (LFM2's
short convolution keeps the inputs alone: it has no scan). Prefill
runs the chunked (matrix) form of the scan, decode one recurrent update per token that reads and
writes the state. The formulas and their sources are in docs/model.md, "Recurrent mixers".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from rooflens.core.operators import (
    TOKENS,
    Activation,
    Cost,
    Linear,
    Norm,
    Operator,
    Precision,
    Step,
    Terms,
    _cost,
)
from rooflens.core.options import Conventions, Quantization

MixerKind = Literal["mamba1", "mamba2", "gated_deltanet", "kda", "lightning", "short_conv"]

# OPs per state element and token of the recurrent (decode) update. Mamba2 and lightning
# attention: decay (1), outer-product accumulate k v^T (2), read-out q S (2). Delta rules (Gated
# DeltaNet, KDA) add the read-out S^T k of the prediction they correct (2). Mamba1's selective
# scan: exp(dt A) (2), decay and input (3), read-out C h (2).
RECURRENT_OPS: dict[str, int] = {
    "mamba1": 7,
    "mamba2": 5,
    "lightning": 5,
    "gated_deltanet": 7,
    "kda": 7,
}


# ModelSpec's widest size (core.model.MAX_WIDTH, which imports this module).
_MAX_WIDTH = 1 << 22
_Width = Annotated[int, Field(gt=0, le=_MAX_WIDTH)]


class Mixer(BaseModel):
    """One recurrent mixer layer's shapes. Value heads (`num_heads` of `head_dim`) each carry a
    `key_dim x head_dim` state; `num_key_heads` query/key heads of `key_dim` are shared by them
    (Mamba2: `n_groups` groups of B and C of `d_state`; Mamba1: `d_inner` one-wide heads sharing
    one B and C of `d_state`). A short convolution (LFM2) has `num_heads` one-wide channels and
    no scan: one key head of width 1, which nothing reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MixerKind
    # Bounded as ModelSpec's widths are (Mamba1's heads are its d_inner channels): sizes past
    # any model's are a typo, whose footprint in exabytes would be no answer.
    num_heads: _Width
    head_dim: _Width
    num_key_heads: _Width
    key_dim: _Width
    conv_kernel: Annotated[int, Field(ge=0, le=_MAX_WIDTH)] = 0
    chunk_size: _Width = 64
    # Mamba1: rank of the time-step projection; KDA: rank of its gate projections.
    low_rank: Annotated[int, Field(ge=0, le=_MAX_WIDTH)] = 0
    in_bias: bool = False
    out_bias: bool = False
    conv_bias: bool = False
    # An RMSNorm over the output before the output projection (gated by z in Mamba2/GDN/KDA).
    out_norm: bool = True
    # Jamba's RMSNorms on Mamba1's dt, B and C; Falcon Mamba's have no learned weights.
    inner_norms: bool = False
    inner_norm_weights: bool = True
    # Width the recurrent state is stored at (Nemotron-H declares float32); None: the KV cache's.
    state_bits: PositiveInt | None = None
    # KDA's output gate as one full-rank projection hidden -> value width (Kimi K3) rather than
    # through the rank-`low_rank` bottleneck (Kimi Linear).
    full_rank_gate: bool = False
    # KDA's decay gate likewise, one projection hidden -> key width (Ling 3's f_proj in
    # transformers' BailingHybridForgetGate) rather than f_a/f_b.
    full_rank_decay: bool = False

    @model_validator(mode="after")
    def _check(self) -> Mixer:
        if self.num_heads % self.num_key_heads:
            raise ValueError(
                f"num_heads={self.num_heads} must be a multiple of "
                f"num_key_heads={self.num_key_heads}"
            )
        if self.conv_kernel < 0 or self.low_rank < 0:
            raise ValueError("conv_kernel and low_rank must be >= 0")
        if (self.full_rank_gate or self.full_rank_decay) and self.kind != "kda":
            raise ValueError("full_rank_gate and full_rank_decay are KDA's (kind='kda')")
        # A KDA whose two gates are both full-rank has no bottleneck to size.
        bottleneck = self.kind == "mamba1" or (
            self.kind == "kda" and not (self.full_rank_gate and self.full_rank_decay)
        )
        if bottleneck and not self.low_rank:
            raise ValueError(f"kind={self.kind!r} needs low_rank (dt rank / gate rank)")
        if self.kind == "kda" and not bottleneck and self.low_rank:
            raise ValueError(
                f"low_rank={self.low_rank} is unused: both of KDA's gates are full-rank"
            )
        if self.kind == "short_conv" and (
            not self.conv_kernel
            or self.head_dim != 1
            or self.num_key_heads != 1
            or self.key_dim != 1
            or self.low_rank
            or self.state_bits is not None
        ):
            raise ValueError(
                "kind='short_conv' needs conv_kernel and one-wide channels (head_dim, "
                "num_key_heads and key_dim 1), and has no low_rank or scan state (state_bits)"
            )
        return self

    @property
    def value_width(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def key_width(self) -> int:
        return self.num_key_heads * self.key_dim

    @property
    def conv_channels(self) -> int:
        """Channels of the short convolution: x, B, C (Mamba2), q, k, v (delta rules), x
        (Mamba1)."""
        if not self.conv_kernel:
            return 0
        if self.kind in ("mamba1", "short_conv"):
            return self.value_width
        return 2 * self.key_width + self.value_width

    @property
    def state_elements(self) -> int:
        """Recurrent state per sequence and layer: num_heads x key_dim x head_dim (none for a
        short convolution, which has no scan)."""
        if self.kind == "short_conv":
            return 0
        return self.num_heads * self.key_dim * self.head_dim

    def state_bytes(self, kv_bits: int) -> float:
        """Per sequence and layer: the scan state and the convolution's last kernel-1 inputs."""
        scan = self.state_elements * state_width(self.state_bits, kv_bits) / 8
        conv = self.conv_channels * max(self.conv_kernel - 1, 0) * state_width(None, kv_bits) / 8
        return scan + conv

    def split(self, tp: int) -> Mixer:
        """One device's share under tensor parallelism: heads split, key heads split or
        replicated when fewer than `tp`."""
        return self.model_copy(
            update={
                "num_heads": self.num_heads // tp,
                "num_key_heads": max(self.num_key_heads // tp, 1),
            }
        )

    def splits_over(self, tp: int) -> bool:
        kh = self.num_key_heads
        return self.num_heads % tp == 0 and (kh % tp == 0 or tp % kh == 0)


def state_width(state_bits: int | None, kv_bits: int) -> int:
    """Bits per element of a recurrent state (the scan's, or the convolution's window): as set
    or declared, else 16, or the KV cache's where it is wider. A KV cache narrowed to 8 or 4
    bits leaves the states at 16: vLLM keeps them at the model's dtype unless
    --mamba-ssm-cache-dtype says otherwise, SGLang at --mamba-ssm-dtype (vllm/config/cache.py,
    sglang/srt/server_args.py), neither at --kv-cache-dtype."""
    return state_bits or max(kv_bits, 16)


@dataclass(frozen=True)
class CausalConv(Operator):
    """Depthwise causal convolution of `kernel` taps over `channels`, SiLU after it where
    `silu` (the causal-conv1d kernel; LFM2's short convolution runs it with activation=None).
    Its state is the last kernel-1 inputs of each sequence."""

    channels: int = 0
    kernel: int = 4
    bias: bool = False
    silu: bool = True

    def cost(self, step: Step, prec: Precision) -> Cost:
        elems = step.tokens * self.channels
        state = (
            step.batch
            * self.channels
            * (self.kernel - 1)
            * state_width(None, prec.quant.kv_bits)
            / 8
        )
        return _cost(
            # A multiply-add per tap, the bias, SiLU (4).
            ops=elems * (2 * self.kernel + (1 if self.bias else 0) + (4 if self.silu else 0)),
            load_weight=self.params() * prec.unquantized,
            load_act=elems * prec.act,
            store_act=elems * prec.act,
            # The window of earlier inputs is read when the sequence has any, then rewritten.
            load_kv=np.where(step.past > 0, state, 0.0),
            store_kv=state,
        )

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        return step.tokens * self.channels * prec.act

    def params(self) -> int:
        return self.channels * self.kernel + (self.channels if self.bias else 0)


@dataclass(frozen=True)
class Product(Operator):
    """Element-wise product of two `width`-wide tensors: LFM2's input gate B * x and output
    gate C * conv(B * x) (transformers' Lfm2ShortConv.forward)."""

    width: int = 0

    def terms(self, prec: Precision) -> Terms:
        w = self.width
        return {
            # One multiply per element; both factors read, the product written.
            "ops": ((w, (TOKENS,)),),
            "load_act": ((2 * w * prec.act, (TOKENS,)),),
            "store_act": ((w * prec.act, (TOKENS,)),),
        }


@dataclass(frozen=True)
class StateScan(Operator):
    """The recurrence of a linear-attention or state-space layer, with its per-head parameters
    (`extra_params`: A_log, D, dt_bias).

    Prefill (several new tokens) runs the chunked form: within a chunk of C tokens, attention-
    like matrix products; across chunks, the state carried once per chunk. Decode (one new
    token) updates the state once: it is read and written whole."""

    efficiency_class: ClassVar[str] = "attention"

    kind: str = "mamba2"
    num_heads: int = 0
    head_dim: int = 0
    num_key_heads: int = 0
    key_dim: int = 0
    chunk_size: int = 64
    # Elements per token the scan reads: its q/k/v (or x/B/C) and gates.
    in_width: int = 0
    extra_params: int = 0
    state_bits: int | None = None
    conventions: Conventions = field(default_factory=Conventions)

    def chunked_ops_per_token(self, chunk: np.ndarray) -> np.ndarray:
        """Matrix OPs per token of the chunked scan, chunk length `chunk`."""
        h, p, g, n = self.num_heads, self.head_dim, self.num_key_heads, self.key_dim
        if self.kind == "mamba2":
            # SSD (Dao & Gu 2024, sec. 6): C B^T per group, its decay mask and (L o CB^T) X per
            # head, chunk states B^T X and their read-out C S.
            return g * 2 * chunk * n + h * (chunk + 2 * chunk * p + 4 * n * p)
        if self.kind == "lightning":
            # Lightning Attention-2 (Qin et al. 2024): masked Q K^T V within a block, Q (K^T V)
            # across blocks, and the block's K^T V added to the state.
            return h * (chunk + 2 * chunk * n + 2 * chunk * p + 4 * n * p)
        # Delta rules in the chunkwise WY form (Yang et al. 2024, Gated DeltaNet, sec. 3; the
        # fla kernels expand key heads to value heads): Q K^T and K K^T, the triangular solve
        # (C^3/3 per chunk), W = T K, U = T V, the intra-chunk output, and W S, Q S, K^T U.
        return h * (
            2 * chunk * n + 2 * chunk * n + chunk**2 / 3 + 2 * chunk * n + 4 * chunk * p + 6 * n * p
        )

    def _state_bytes(self, prec: Precision) -> float:
        bits = state_width(self.state_bits, prec.quant.kv_bits)
        return self.num_heads * self.key_dim * self.head_dim * bits / 8

    def cost(self, step: Step, prec: Precision) -> Cost:
        elements = self.num_heads * self.key_dim * self.head_dim
        state = step.batch * self._state_bytes(prec)
        recurrent = RECURRENT_OPS[self.kind] * step.tokens * elements
        decode = step.new_tokens == 1
        if self.kind == "mamba1":
            # The selective scan has no matrix form: one recurrent update per token throughout.
            ops, chunk_states = recurrent, 0.0
        else:
            chunk = np.minimum(step.new_tokens, self.chunk_size)
            chunked = step.tokens * self.chunked_ops_per_token(chunk)
            ops = np.where(decode, recurrent, chunked)
            # Each chunk's state is written by the state pass and read by the output pass.
            chunks = np.ceil(step.new_tokens / self.chunk_size)
            chunk_states = np.where(decode, 0.0, step.batch * chunks * elements * prec.act)
        return _cost(
            ops=ops,
            load_weight=self.extra_params * prec.unquantized,
            load_act=step.tokens * self.in_width * prec.act + chunk_states,
            store_act=step.tokens * self.num_heads * self.head_dim * prec.act + chunk_states,
            # The state carried in from earlier tokens is read, the new one written.
            load_kv=np.where(step.past > 0, state, 0.0),
            store_kv=state,
        )

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        return step.tokens * self.num_heads * self.head_dim * prec.act

    def compute_bits(self, quant: Quantization) -> int | None:
        # The scan's products run on the activations between operators (16 bits: an 8-bit
        # `a_bits` quantizes GEMM inputs only), as the engines' chunked-scan kernels take
        # bf16 inputs beside FP8 GEMMs; at a_bits it had computed on INT8 tensor types (B300:
        # 0.125 POP/s dense, a scan five times slower beside FP8 weights).
        return None if self.kind == "mamba1" else quant.stream_bits

    def params(self) -> int:
        return self.extra_params


def mixer_operators(
    mixer: Mixer,
    hidden: int,
    src: str,
    out: str,
    layers: int,
    conventions: Conventions,
) -> list[Operator]:
    """The operators of one recurrent mixer layer, from the normed input `src` to `out`."""
    x = mixer
    v, k, h = x.value_width, x.key_width, x.num_heads
    common = {"layers": layers}
    scan = {
        "kind": x.kind,
        "num_heads": h,
        "head_dim": x.head_dim,
        "num_key_heads": x.num_key_heads,
        "key_dim": x.key_dim,
        "chunk_size": x.chunk_size,
        "state_bits": x.state_bits,
        "conventions": conventions,
        **common,
    }

    def linear(name: str, inp: str, dst: str, n_in: int, n_out: int, bias: bool = False):
        return Linear(
            name, "block", (inp,), dst, in_features=n_in, out_features=n_out, bias=bias, **common
        )

    def conv(inp: str, dst: str) -> list[Operator]:
        if not x.conv_kernel:
            return []
        return [
            CausalConv(
                "mixer_conv",
                "block",
                (inp,),
                dst,
                channels=x.conv_channels,
                kernel=x.conv_kernel,
                bias=x.conv_bias,
                silu=x.kind != "short_conv",
                **common,
            )
        ]

    def norm(name: str, inp: str, dst: str, width: int, repeats: int = 1) -> Norm:
        return Norm(
            name,
            "block",
            (inp,),
            dst,
            width=width,
            repeats=repeats,
            conventions=conventions,
            **common,
        )

    def gate(function: str) -> Activation:
        # y * act(z) over the value width.
        return Activation(
            "mixer_gate", "block", ("ssm", "z"), "ssm_g", width=v, function=function, **common
        )

    ops: list[Operator] = []
    if x.kind == "mamba2":
        # in_proj -> z, x B C, dt (one per head).
        ops.append(linear("mixer_in_proj", src, "xbc", hidden, 2 * v + 2 * k + h, x.in_bias))
        ops += conv("xbc", "xbc_c")
        ops.append(
            StateScan(
                "mixer_scan",
                "block",
                ("xbc_c",),
                "ssm",
                in_width=v + 2 * k + h,
                extra_params=3 * h,
                **scan,
            )
        )
        ops.append(gate("silu"))
        if x.out_norm:
            ops.append(norm("mixer_norm", "ssm_g", "ssm_g", v))
    elif x.kind == "mamba1":
        r, n = x.low_rank, x.key_dim
        ops.append(linear("mixer_in_proj", src, "xz", hidden, 2 * v, x.in_bias))
        ops += conv("xz", "xz_c")
        ops.append(linear("mixer_x_proj", "xz_c", "dbc", v, r + 2 * n))
        if x.inner_norms:
            ops += [
                replace(norm(name, "dbc", "dbc", width), scaled=x.inner_norm_weights)
                for name, width in (("mixer_dt_norm", r), ("mixer_b_norm", n), ("mixer_c_norm", n))
            ]
        ops.append(linear("mixer_dt_proj", "dbc", "dt", r, v, bias=True))
        ops.append(
            StateScan(
                "mixer_scan",
                "block",
                ("xz_c", "dt", "dbc"),
                "ssm",
                in_width=2 * v + 2 * n,
                extra_params=v * n + v,
                **scan,
            )
        )
        ops.append(gate("silu"))
    elif x.kind == "gated_deltanet":
        # q, k, v, z, then the per-head beta and decay a: two GEMMs, as the checkpoints store
        # them (Qwen3-Next: in_proj_qkvz, in_proj_ba; Qwen3.5: in_proj_qkv and in_proj_z, then
        # in_proj_b and in_proj_a) and vLLM runs them; quantized checkpoints keep the second at
        # 16 bits (NVIDIA's Qwen3.6 NVFP4 exports list none of in_proj_a, in_proj_b).
        ops.append(linear("mixer_in_proj", src, "qkvz", hidden, 2 * k + 2 * v, x.in_bias))
        ops.append(linear("mixer_ba_proj", src, "ba", hidden, 2 * h, x.in_bias))
        ops += conv("qkvz", "qkv_c")
        ops.append(
            StateScan(
                "mixer_scan",
                "block",
                ("qkv_c", "ba"),
                "ssm",
                in_width=2 * k + v + 2 * h,
                extra_params=2 * h,
                **scan,
            )
        )
        ops.append(norm("mixer_norm", "ssm", "ssm", x.head_dim, h))
        ops.append(gate("silu"))
    elif x.kind == "kda":
        # Kimi Delta Attention: q, k, v projections, per-channel decay and output gate through
        # rank-r bottlenecks (f_a/f_b, g_a/g_b), or each one full-rank projection; beta per head.
        r = x.low_rank
        ops += [
            linear("mixer_in_proj", src, "qkv", hidden, 2 * k + v),
            linear("mixer_beta_proj", src, "beta", hidden, h),
        ]
        if x.full_rank_decay:
            ops.append(linear("mixer_decay_proj", src, "decay", hidden, k))
        else:
            ops += [
                linear("mixer_decay_a_proj", src, "fa", hidden, r),
                linear("mixer_decay_b_proj", "fa", "decay", r, k),
            ]
        if x.full_rank_gate:
            ops.append(linear("mixer_gate_proj", src, "z", hidden, v))
        else:
            ops += [
                linear("mixer_gate_a_proj", src, "ga", hidden, r),
                linear("mixer_gate_b_proj", "ga", "z", r, v),
            ]
        ops += conv("qkv", "qkv_c")
        ops.append(
            StateScan(
                "mixer_scan",
                "block",
                ("qkv_c", "decay", "beta"),
                "ssm",
                in_width=3 * k + v + h,
                extra_params=h + k,
                **scan,
            )
        )
        ops.append(norm("mixer_norm", "ssm", "ssm", x.head_dim, h))
        ops.append(gate("sigmoid"))
    elif x.kind == "short_conv":
        # LFM2's gated short convolution (transformers' Lfm2ShortConv): in_proj h -> 3V gives
        # B, C and x; B * x runs through the depthwise conv, C scales its output.
        ops.append(linear("mixer_in_proj", src, "bcx", hidden, 3 * v, x.in_bias))
        ops.append(Product("mixer_in_gate", "block", ("bcx",), "bx", width=v, **common))
        ops += conv("bx", "bx_c")
        ops.append(Product("mixer_gate", "block", ("bx_c", "bcx"), "ssm_g", width=v, **common))
    else:  # lightning
        ops += [
            linear("mixer_in_proj", src, "qkv", hidden, 2 * k + v),
            linear("mixer_gate_proj", src, "z", hidden, v),
        ]
        ops.append(
            StateScan(
                "mixer_scan",
                "block",
                ("qkv",),
                "ssm",
                in_width=2 * k + v,
                extra_params=0,
                **scan,
            )
        )
        ops.append(norm("mixer_norm", "ssm", "ssm", v))
        ops.append(gate("sigmoid"))
    ops.append(linear("mixer_out_proj", "ssm_g", out, v, hidden, x.out_bias))
    return ops
