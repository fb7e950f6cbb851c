"""Model description -> ordered operator graph of one decoder block plus embedding and head.

Tensor names wire the operators together so memory liveness can be read off the graph.
Checkpoints that fuse projections (GPT-2's c_attn, Phi-3's qkv_proj) are analysed with the
same unfused graph: the parameters are identical, only the input reads differ.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rooflens.core.block_sparse import block_indexer_operators
from rooflens.core.cache import BoundedCache
from rooflens.core.compressed import compressed_attention_operators, hyper_connection
from rooflens.core.errors import InvalidInputError
from rooflens.core.framework_kernels import transformers_kernels
from rooflens.core.hardware import Device
from rooflens.core.mixers import mixer_operators
from rooflens.core.model import ModelSpec
from rooflens.core.operators import (
    Activation,
    AttentionScores,
    AttentionSinks,
    AttentionValues,
    DepthAttention,
    Embedding,
    ExpertLinear,
    FlashAttention,
    HeadGate,
    IndexerScores,
    LatentAttention,
    Linear,
    Norm,
    Operator,
    ResidualAdd,
    Softmax,
    TiedLinear,
    flash_block_sizes,
)
from rooflens.core.options import AnalysisOptions
from rooflens.core.techniques import (
    contextual_sparsity,
    early_exit,
    fusion,
    kv_eviction,
    low_rank,
    parallelism,
    quantization,
)
from rooflens.core.techniques.parallelism import local_model

# Each technique's graph pass, in the order they apply: (ops, model, the device's slice of it,
# options, device) -> ops. Tensor parallelism comes last: its collectives follow the
# projections the passes before it leave.
GRAPH_PASSES = (
    kv_eviction.apply,
    early_exit.apply,
    contextual_sparsity.apply,
    quantization.apply,
    fusion.apply,
    parallelism.expert_parallel,
    low_rank.apply,
    parallelism.tensor_parallel,
)


@dataclass(frozen=True)
class Graph:
    operators: tuple[Operator, ...]
    num_layers: int
    total_layers: int = 0
    # The model's hidden size: what a profile's per-element overhead scales with.
    hidden_size: int = 0

    def count(self, op: Operator) -> float:
        """How many times this device runs the operator per step (block operators present in
        only some layers: their share of this device's layers)."""
        if op.scope != "block":
            return 1
        if op.layers is None:
            return self.num_layers
        return op.layers * self.num_layers / (self.total_layers or self.num_layers)

    def params(self) -> int:
        return round(sum(self.count(op) * op.params() for op in self.operators))

    def active_params(self) -> int:
        """Parameters one token runs through: of a layer's routed experts its top-k of E
        (DeepSeek-V3's "37B activated" of 671B), every other operator's whole."""
        return round(
            sum(
                self.count(op)
                * op.params()
                * (op.top_k / op.num_experts if isinstance(op, ExpertLinear) else 1.0)
                for op in self.operators
            )
        )


_GRAPHS = BoundedCache(64)


def build_graph(model: ModelSpec, options: AnalysisOptions, device: Device | None = None) -> Graph:
    """The operators one device runs per step, with the number of layers it holds: the model's
    own operators, then each technique's pass (`GRAPH_PASSES`) in turn. Built once per
    (model, options, device): the graph is immutable."""
    return _GRAPHS.get((model, options, device), lambda: _build_graph(model, options, device))


def _build_graph(model: ModelSpec, options: AnalysisOptions, device: Device | None) -> Graph:
    local = local_model(model, options.parallelism)
    mlp_layers = (model.dense_layers, model.mlp_layers_count - model.dense_layers)
    block = _block(local, options, device, mlp_layers)
    ops = [*_embedding(local, options), *block, *_head(local, options)]
    for graph_pass in GRAPH_PASSES:
        ops = graph_pass(ops, model, local, options, device)
    # A profile of transformers' kernels adds the framework's own kernels as rows after the
    # operators they belong to (rooflens.core.framework_kernels).
    profile = options.calibration
    if profile is not None and profile.framework == "transformers":
        ops = transformers_kernels(ops, local, options.quantization)
    return Graph(
        operators=tuple(ops),
        num_layers=local.num_layers,
        total_layers=model.num_layers,
        hidden_size=local.hidden_size,
    )


def _embedding(m: ModelSpec, o: AnalysisOptions) -> list[Operator]:
    ops: list[Operator] = [
        Embedding(
            "embed_tokens", "head", ("ids",), "e0", rows=m.vocab_size, width=m.token_embed_dim
        )
    ]
    last = "e0"
    if m.embed_dim is not None:
        ops.append(
            Linear(
                "project_in",
                "head",
                (last,),
                "e1",
                in_features=m.embed_dim,
                out_features=m.hidden_size,
                quantized=False,
            )
        )
        last = "e1"
    if m.learned_positions:
        ops.append(
            Embedding(
                "embed_positions",
                "head",
                (last,),
                "x",
                rows=m.learned_positions,
                width=m.hidden_size,
                add_to_input=True,
            )
        )
    else:
        ops[-1] = _rename_output(ops[-1], "x")
    if m.embed_norm:
        ops[-1] = _rename_output(ops[-1], "xe")
        ops.append(_norm(m, o, "embed_norm", "xe", "x", scope="head"))
    return ops


def _rename_output(op: Operator, output: str) -> Operator:
    return replace(op, output=output)


def _norm(
    m: ModelSpec,
    o: AnalysisOptions,
    name: str,
    src: str,
    dst: str,
    scope: str = "block",
    width: int | None = None,
    repeats: int = 1,
) -> Norm:
    return Norm(
        name,
        scope,
        (src,),
        dst,
        width=width or m.hidden_size,
        kind=m.norm,
        bias=m.norm_bias,
        repeats=repeats,
        conventions=o.conventions,
        scaled=m.norm_gain,
    )


def attention_layers(
    m: ModelSpec, o: AnalysisOptions
) -> list[tuple[int | None, int | None, int | None, int | None, bool]]:
    """(layers, most keys one query attends to, chunk, keys a KV budget keeps cached, whether
    those keys are a sparse selection) for each kind of attention layer: `attention_spans`
    without the budget, which caps the cached keys only (Step.limited: a step's own tokens
    are attended before eviction), with Llama 4's chunked layers apart (the budget caps their
    span, within the chunk) and MiniMax-M3's sparse layers, which attend to their selected
    blocks but keep every key."""
    budget = o.kv_budget
    if m.sparse_layers:
        kinds = [
            (m.all_layers - m.sparse_layers, None, None, budget, False),
            (m.sparse_layers, m.sparse_block * m.sparse_blocks, None, budget, True),
        ]
        return [kind for kind in kinds if kind[0]]
    if m.attention_chunk is None or m.chunk_layers is None:
        return [
            (layers, span, None, budget, False)
            for layers, span in attention_spans(m, o, evicted=False)
        ]
    kinds = [
        (m.all_layers - m.chunk_layers, None, None, budget, False),
        (m.chunk_layers, budget, m.attention_chunk, None, False),
    ]
    return [kind for kind in kinds if kind[0]]


def attention_spans(
    m: ModelSpec, o: AnalysisOptions, evicted: bool = True
) -> list[tuple[int | None, int | None]]:
    """(layers, most keys one query attends to, or one layer keeps) for each kind of attention
    layer: a sliding window (all layers, or Gemma-2's alternate ones) and, `evicted`, a
    KV-cache budget both cap it. A chunked layer keeps at most one chunk of keys."""
    budget = o.kv_budget if evicted else None
    if m.attention_chunk is not None and m.chunk_layers is not None:
        capped = min(filter(None, (m.attention_chunk, budget)), default=None)
        kinds = [(m.all_layers - m.chunk_layers, budget), (m.chunk_layers, capped)]
        return [kind for kind in kinds if kind[0]]
    capped = min(filter(None, (m.sliding_window, budget)), default=None)
    if m.is_hybrid:
        # Only the attention layers of a hybrid cache keys (recurrent layers keep a state).
        return [(m.attention_layers_count, capped)]
    if m.sliding_window is None or m.window_layers is None:
        return [(None, capped)]
    return [(m.all_layers - m.window_layers, budget), (m.window_layers, capped)]


def kv_spans(
    m: ModelSpec, o: AnalysisOptions, evicted: bool = True
) -> tuple[tuple[float, int | None], ...]:
    """(share of layers, most keys each keeps) for the KV cache, from `attention_spans`
    (`evicted` False: before a KV budget evicts, as a step holds its own keys). Gemma 4's
    global layers weigh by their KV width relative to a window layer's (`kv_bytes_per_token`
    counts every layer at the window layers' width)."""
    if m.compressed_attention:
        return _compressed_kv_spans(m, o)
    spans = [
        ((m.all_layers if layers is None else layers) / m.all_layers, span)
        for layers, span in attention_spans(m, o, evicted)
    ]
    if m.global_head_dim is not None:
        local = local_model(m, o.parallelism)
        # K and V per KV head in each kind of layer: values as wide as the keys, or
        # `v_head_dim` in both kinds (MiMo-V2).
        global_kv = m.global_head_dim + (m.v_head_dim or m.global_head_dim)
        ratio = (local.global_kv_heads or local.num_kv_heads) * global_kv
        ratio /= local.num_kv_heads * (m.head_dim + m.value_dim)
        # attention_spans lists the global layers first, then the window layers.
        spans[0] = (spans[0][0] * ratio, spans[0][1])
    if m.sparse_layers:
        # MiniMax-M3's index key (replicated under tensor parallelism) beside K and V.
        local = local_model(m, o.parallelism)
        share = m.sparse_layers / m.all_layers * m.index_head_dim / (2 * local.kv_dim)
        spans.append((share, None))
    return tuple(spans)


def _compressed_kv_spans(m: ModelSpec, o: AnalysisOptions) -> tuple[tuple[float, int | None], ...]:
    """DeepSeek-V4's cache in shares of `kv_bytes_per_token` (one d-wide vector per token in
    every layer): every layer keeps the window; CSA layers one entry per `csa_ratio` tokens and
    its index key (index_head_dim wide, at the cache's width); HCA layers one entry per
    `hca_ratio` tokens."""
    n = m.all_layers
    spans: list[tuple[float, int | None]] = [(1.0, m.sliding_window)]
    if m.csa_layers:
        entry = m.csa_layers / n / m.csa_ratio
        spans += [(entry, None), (entry * m.index_head_dim / m.kv_dim, None)]
    if m.hca_layers:
        spans.append((m.hca_layers / n / m.hca_ratio, None))
    return tuple(spans)


def _attention_core(
    m: ModelSpec,
    o: AnalysisOptions,
    device: Device | None,
    q: str,
    span: int | None,
    layers: int | None,
    chunk: int | None = None,
    kept: int | None = None,
    selected: bool = False,
) -> list[Operator]:
    """Scores, softmax and values (or the fused kernel) for layers attending to `span` keys
    (within their chunk, chunked; `selected`: the keys a sparse layer's indexer picks, which
    even an unfused kernel scores alone), `kept` of them cached past a KV budget."""
    h, kvh, d = m.num_heads, m.num_kv_heads, m.head_dim
    heads = {"num_heads": h, "num_kv_heads": kvh, "head_dim": d, "span": span, "layers": layers}
    heads |= {"chunk": chunk, "kept": kept}
    if m.v_head_dim is not None:
        # Values narrower than queries and keys (MiMo-V2).
        heads["v_dim"] = m.v_head_dim
    ops: list[Operator] = []
    if o.flash_attention:
        ops.append(
            FlashAttention(
                "flash_attention",
                "block",
                (q, "k", "v"),
                "attn",
                block_rows=_flash_block_rows(m, o, device),
                **heads,
            )
        )
    else:
        unfused = {**heads, "masked_block": not selected}
        ops += [
            AttentionScores("qk_matmul", "block", (q, "k"), "scores", **unfused),
            Softmax(
                "softmax",
                "block",
                ("scores",),
                "probs",
                num_heads=h,
                span=span,
                layers=layers,
                chunk=chunk,
                kept=kept,
                masked_block=not selected,
            ),
            AttentionValues("sv_matmul", "block", ("probs", "v"), "attn", **unfused),
        ]
    return ops


def _latent_attention(m: ModelSpec, o: AnalysisOptions, src: str) -> list[Operator]:
    """DeepSeek's MLA: low-rank queries, one cached latent (plus rotary key) for K and V."""
    h, d, c = m.num_heads, m.head_dim, m.kv_lora_rank or 0
    ops: list[Operator] = []
    if m.q_lora_rank:
        ops += [
            Linear(
                "q_a_proj",
                "block",
                (src,),
                "qa",
                in_features=m.hidden_size,
                out_features=m.q_lora_rank,
                bias=m.qkv_bias,
            ),
            _norm(m, o, "q_a_norm", "qa", "qan", width=m.q_lora_rank),
            Linear(
                "q_b_proj", "block", ("qan",), "q", in_features=m.q_lora_rank, out_features=h * d
            ),
        ]
    else:
        ops.append(
            Linear("q_proj", "block", (src,), "q", in_features=m.hidden_size, out_features=h * d)
        )
    v = m.v_head_dim or d
    ops += [
        # The latent and the rotary key are what the cache holds.
        Linear(
            "kv_a_proj",
            "block",
            (src,),
            "kv",
            in_features=m.hidden_size,
            out_features=c + m.qk_rope_head_dim,
            bias=m.qkv_bias,
            to_kv_cache=True,
        ),
        _norm(m, o, "kv_a_norm", "kv", "kv", width=c),
    ]
    topk = m.index_topk
    if topk is not None:
        ops += _lightning_indexer(m, o, src, "qan" if m.q_lora_rank else src)
    ops += [
        *(
            LatentAttention(
                "latent_attention",
                "block",
                ("q", "kv", "topk") if topk else ("q", "kv"),
                "attn",
                num_heads=h,
                head_dim=d,
                rope_dim=m.qk_rope_head_dim,
                v_dim=v,
                kv_lora=c,
                span=min(filter(None, (span, topk)), default=None),
                kept=o.kv_budget,
                layers=layers,
                sparse=topk is not None,
                flash=o.flash_attention or topk is not None,
            )
            for layers, span in attention_spans(m, o, evicted=False)
        ),
        Linear(
            "o_proj",
            "block",
            ("attn",),
            "attn_out",
            in_features=h * v,
            out_features=m.hidden_size,
            bias=m.out_bias,
        ),
    ]
    return ops


def _lightning_indexer(m: ModelSpec, o: AnalysisOptions, src: str, q_src: str) -> list[Operator]:
    """DeepSeek Sparse Attention's indexer (DeepSeek-V3.2): index queries from the query
    latent, one shared index key per token (LayerNorm'd, cached in FP8), per-head weights,
    then the scores over every key and the top-k selection."""
    hi, di = m.index_heads, m.index_head_dim
    q_width = m.q_lora_rank or m.hidden_size
    ops: list[Operator] = [
        Linear(
            "indexer_q_proj", "block", (q_src,), "iq", in_features=q_width, out_features=hi * di
        ),
        # The normed key is written to the index cache in FP8 by indexer_scores.
        Linear("indexer_k_proj", "block", (src,), "ik", in_features=m.hidden_size, out_features=di),
        Norm(
            "indexer_k_norm",
            "block",
            ("ik",),
            "ik",
            width=di,
            kind="layernorm",
            bias=True,
            conventions=o.conventions,
        ),
        # DeepSeek's inference code keeps weights_proj in bf16 in the FP8 checkpoint.
        Linear(
            "indexer_weights_proj",
            "block",
            (src,),
            "iw",
            in_features=m.hidden_size,
            out_features=hi,
            quantized=False,
        ),
        IndexerScores(
            "indexer_scores",
            "block",
            ("iq", "iw", "ik"),
            "topk",
            num_heads=hi,
            head_dim=di,
            top_k=m.index_topk or 0,
        ),
    ]
    if m.index_layers is None:
        return ops
    return [replace(op, layers=m.index_layers) for op in ops]


def _two_shape_attention(
    m: ModelSpec, o: AnalysisOptions, device: Device | None, src: str
) -> list[Operator]:
    """Gemma 4: the window layers' attention at (num_kv_heads, head_dim), the global layers'
    at (global_kv_heads, global_head_dim), each operator counted in its own layers; global
    layers whose keys are the values have no v_proj and read the keys as values."""
    plain = {
        "global_head_dim": None,
        "global_kv_heads": None,
        "global_k_eq_v": False,
        "global_heads": None,
        "global_sinks": None,
    }
    window = m.model_copy(update=plain | {"window_layers": None})
    sinks = m.attention_sinks if m.global_sinks is None else m.global_sinks
    whole = m.model_copy(
        update=plain
        | {
            "head_dim": m.global_head_dim,
            "num_kv_heads": m.global_kv_heads or m.num_kv_heads,
            # Step 3.5/3.7's global layers have fewer query heads than its window layers.
            "num_heads": m.global_heads or m.num_heads,
            # MiMo-V2-Flash's full layers have no sinks beside its window layers' sinks.
            "attention_sinks": sinks,
            "sliding_window": None,
            "window_layers": None,
        }
    )
    ops = [replace(op, layers=m.window_layers) for op in _attention(window, o, device, src)]
    for op in _attention(whole, o, device, src):
        if m.global_k_eq_v and isinstance(op, Linear) and op.name == "v_proj":
            # No v_proj: the values are the key projection's output, normed per head without
            # a gain and without rotary positions (Gemma 4's v_norm), cached beside the keys.
            heads = op.out_features // (m.global_head_dim or m.head_dim)
            op = Norm(
                "v_norm", op.scope, ("k",), "v", width=op.out_features // heads, kind=m.norm,
                repeats=heads, conventions=o.conventions, scaled=False, to_kv_cache=True,
            )  # fmt: skip
        ops.append(replace(op, layers=m.all_layers - (m.window_layers or 0)))
    return ops


def _attention(m: ModelSpec, o: AnalysisOptions, device: Device | None, src: str) -> list[Operator]:
    """The attention sublayer from the normed input `src`, with its output gate where the
    model has one (each shape its own, where the global layers differ)."""
    if m.global_head_dim is not None:
        return _two_shape_attention(m, o, device, src)
    ops = _one_shape_attention(m, o, device, src)
    if m.attention_output_gate or m.attention_head_gate:
        ops = _gated_attention(m, ops, src)
    return ops


def _one_shape_attention(
    m: ModelSpec, o: AnalysisOptions, device: Device | None, src: str
) -> list[Operator]:
    if m.compressed_attention:
        return compressed_attention_operators(m, o.conventions, src)
    if m.is_mla:
        return _latent_attention(m, o, src)
    h, kvh, d = m.num_heads, m.num_kv_heads, m.head_dim
    ops: list[Operator] = [
        Linear(
            "q_proj",
            "block",
            (src,),
            "q",
            in_features=m.hidden_size,
            out_features=m.q_dim,
            bias=m.qkv_bias,
        ),
        Linear(
            "k_proj",
            "block",
            (src,),
            "k",
            in_features=m.hidden_size,
            out_features=m.kv_dim,
            bias=m.qkv_bias,
            to_kv_cache=True,
        ),
        Linear(
            "v_proj",
            "block",
            (src,),
            "v",
            in_features=m.hidden_size,
            out_features=kvh * m.value_dim,
            bias=m.qkv_bias,
            to_kv_cache=True,
        ),
    ]
    q = "q"
    if m.qk_norm and (m.qk_norm_whole or m.qk_norm_head_gains):
        # One gain per element of the whole projection: normed whole (MiniMax-M2, OLMo 2), or
        # each head over its own head_dim values with gains of its own (Command R+: the same
        # elements and operations as a shared gain, H·d and H_kv·d parameters).
        ops.append(_norm(m, o, "q_norm", "q", "qn", width=m.q_dim))
        ops.append(_norm(m, o, "k_norm", "k", "k", width=m.kv_dim))
        q = "qn"
    elif m.qk_norm:
        ops.append(_norm(m, o, "q_norm", "q", "qn", width=d, repeats=h))
        # The normed keys go to the cache: count them as a KV store, not a temporary.
        ops.append(_norm(m, o, "k_norm", "k", "k", width=d, repeats=kvh))
        q = "qn"
    if m.sparse_layers:
        ops += block_indexer_operators(m, o.conventions, src)
    for layers, span, chunk, kept, selected in attention_layers(m, o):
        ops += _attention_core(m, o, device, q, span, layers, chunk, kept, selected)
    if m.attention_sinks:
        ops.append(AttentionSinks("attention_sinks", "block", (q,), "sinks", num_heads=h))
    ops.append(
        Linear(
            "o_proj",
            "block",
            ("attn",),
            "attn_out",
            in_features=h * m.value_dim,
            out_features=m.hidden_size,
            bias=m.out_bias,
        )
    )
    if m.post_norms:
        ops.append(_norm(m, o, "post_attn_norm", "attn_out", "attn_out_n"))
    return ops


def _flash_block_rows(m: ModelSpec, o: AnalysisOptions, device: Device | None) -> int:
    return flash_tile_rows(device, m.head_dim, o.quantization.stream_bits / 8)


def flash_tile_rows(device: Device | None, head_dim: int, act_bytes: float) -> int:
    """FlashAttention's query tile on `device` for heads of `head_dim` (flash_block_sizes:
    Dao et al. 2022, Algorithm 1); a device without its on-chip memory cannot size one."""
    if device is None or device.onchip_memory_per_unit is None:
        name = device.name if device else None
        raise InvalidInputError(
            "flash_attention",
            True,
            f"a device with onchip_memory_per_unit (device {name!r} lacks it) to size the tiles",
        )
    block_rows, _ = flash_block_sizes(device.onchip_memory_per_unit, head_dim, act_bytes)
    return block_rows


def _ffn(
    m: ModelSpec, prefix: str, width: int, src: str, out: str, layers: int | None = None
) -> list[Operator]:
    """Gate/up projections, activation and down projection of one MLP of `width`."""
    t = prefix.replace("_", "")
    common = {"bias": m.mlp_bias, "layers": layers}
    ops: list[Operator] = []
    if m.gated_mlp:
        ops.append(
            Linear(
                f"{prefix}gate_proj",
                "block",
                (src,),
                f"{t}gate",
                in_features=m.hidden_size,
                out_features=width,
                **common,
            )
        )
    ops.append(
        Linear(
            f"{prefix}up_proj",
            "block",
            (src,),
            f"{t}up",
            in_features=m.hidden_size,
            out_features=width,
            **common,
        )
    )
    act_in = (f"{t}gate", f"{t}up") if m.gated_mlp else (f"{t}up",)
    ops.append(
        Activation(
            f"{prefix}mlp_act",
            "block",
            act_in,
            f"{t}act",
            width=width,
            function=m.activation,
            gated=m.gated_mlp,
            layers=layers,
        )
    )
    ops.append(
        Linear(
            f"{prefix}down_proj",
            "block",
            (f"{t}act",),
            out,
            in_features=width,
            out_features=m.hidden_size,
            **common,
        )
    )
    return ops


def _experts(
    m: ModelSpec,
    o: AnalysisOptions,
    src: str,
    out: str,
    layers: int,
    router_src: str | None = None,
) -> list[Operator]:
    """Router and routed experts of an MoE layer (Shazeer et al. 2017; Mixtral, DeepSeekMoE).
    The router reads `router_src` where it has an input of its own (Gemma 4), else `src`."""
    e, k, width = m.num_experts, m.experts_per_token, m.expert_intermediate_size or 0
    conventions = o.conventions
    # Under expert parallelism over attention groups the experts also serve the other
    # groups' tokens (Parallelism.expert_token_groups).
    groups = o.parallelism.expert_token_groups
    routed = {"num_experts": e, "top_k": k, "layers": layers, "token_groups": groups}
    ops: list[Operator] = [
        Linear(
            "router",
            "block",
            (router_src or src,),
            "router_logits",
            in_features=m.hidden_size,
            out_features=e,
            # Gemma 4's per-expert scale of the top-k weights: E values, counted as a bias.
            bias=m.router_bias or m.moe_beside_mlp,
            quantized=False,
            layers=layers,
        )
    ]
    # Latent MoE: the experts read and write a narrower width d, one projection h -> d (and,
    # in Kimi K3, an RMSNorm) before them and one d -> h after, shared by all experts.
    d_in, expert_out = m.expert_latent_size or m.hidden_size, out
    if m.expert_latent_size:
        latent = {"quantized": m.expert_latent_quantized, "bias": m.mlp_bias, "layers": layers}
        ops.append(
            Linear(
                "latent_in_proj", "block", (src,), "lat", in_features=m.hidden_size,
                out_features=d_in, **latent,
            )
        )  # fmt: skip
        if m.expert_latent_norm:
            ops.append(
                Norm(
                    "latent_norm", "block", ("lat",), "lat", width=d_in, kind=m.norm,
                    conventions=conventions, layers=layers,
                )
            )  # fmt: skip
        src, expert_out = "lat", "lat_out"
    if m.gated_mlp:
        ops.append(
            ExpertLinear(
                "expert_gate_proj",
                "block",
                (src,),
                "egate",
                in_features=d_in,
                out_features=width,
                bias=m.mlp_bias,
                **routed,
            )
        )
    ops.append(
        ExpertLinear(
            "expert_up_proj",
            "block",
            (src,),
            "eup",
            in_features=d_in,
            out_features=width,
            bias=m.mlp_bias,
            **routed,
        )
    )
    act_in = ("egate", "eup") if m.gated_mlp else ("eup",)
    # Each token runs k experts: the activation covers k x width elements per token (per
    # token of this group: k x width for each group's).
    ops.append(
        Activation(
            "expert_act",
            "block",
            act_in,
            "eact",
            width=k * width * groups,
            function=m.activation,
            gated=m.gated_mlp,
            layers=layers,
        )
    )
    ops.append(
        ExpertLinear(
            "expert_down_proj",
            "block",
            ("eact",),
            expert_out,
            in_features=width,
            out_features=d_in,
            bias=m.mlp_bias,
            **routed,
        )
    )
    if m.expert_latent_size:
        ops.append(
            Linear(
                "latent_out_proj", "block", (expert_out,), out, in_features=d_in,
                out_features=m.hidden_size, **latent,
            )
        )  # fmt: skip
    return ops


def _moe_beside_mlp(
    m: ModelSpec, o: AnalysisOptions, src: str, residual: str, layers: int
) -> list[Operator]:
    """Gemma 4's MoE block (transformers' Gemma4TextDecoderLayer): the dense MLP on the normed
    input, normed after; the router on the residual stream through a weightless RMSNorm and a
    learned scale (priced as one RMSNorm); the experts on the residual stream through their own
    pre-norm, normed after; the two branches summed."""
    return [
        *_ffn(m, "", m.intermediate_size, src, "dense_out", layers=layers),
        replace(_norm(m, o, "mlp_post_norm", "dense_out", "dense_out_n"), layers=layers),
        replace(_norm(m, o, "router_norm", residual, "xr"), layers=layers),
        replace(_norm(m, o, "moe_pre_norm", residual, "xe"), layers=layers),
        *_experts(m, o, "xe", "routed_out", layers, router_src="xr"),
        replace(_norm(m, o, "moe_post_norm", "routed_out", "routed_out_n"), layers=layers),
        ResidualAdd(
            "moe_combine",
            "block",
            ("dense_out_n", "routed_out_n"),
            "mlp_out",
            width=m.hidden_size,
            conventions=o.conventions,
            layers=layers,
        ),
    ]


def _mlp(
    m: ModelSpec,
    o: AnalysisOptions,
    src: str,
    mlp_layers: tuple[int, int],
    residual: str = "x2",
) -> list[Operator]:
    """The MLP (dense, MoE, or both) from the normed input `src`; `residual` is the block's
    residual stream, which Gemma 4's router and experts read."""
    dense, moe = mlp_layers
    if m.moe_beside_mlp:
        ops = _moe_beside_mlp(m, o, src, residual, moe)
    elif m.mlp_widths:
        # One MLP per width, each counted in its own layers (Nemotron-NAS). The widest comes
        # last, so that its temporaries are the ones memory liveness keeps (a tensor written
        # twice is the later writer's).
        ops = [
            replace(op, mlp_width=width)
            for width, layers in m.mlp_widths
            for op in _ffn(m, "", width, src, "mlp_out", layers=layers)
        ]
    elif not m.is_moe:
        ops = _ffn(m, "", m.intermediate_size, src, "mlp_out", layers=m.mlp_layers)
    else:
        ops = _ffn(m, "", m.intermediate_size, src, "mlp_out", layers=dense) if dense else []
        if m.shared_intermediate_size:
            ops += _experts(m, o, src, "routed_out", moe)
            ops += _ffn(m, "shared_", m.shared_intermediate_size, src, "shared_out", layers=moe)
            combine_in = ("routed_out", "shared_out")
            if m.shared_expert_gate:
                ops.append(
                    Linear(
                        "shared_expert_gate",
                        "block",
                        (src,),
                        "shared_gate",
                        in_features=m.hidden_size,
                        out_features=1,
                        quantized=False,
                        layers=moe,
                    )
                )
            ops.append(
                ResidualAdd(
                    "moe_combine",
                    "block",
                    combine_in,
                    "mlp_out",
                    width=m.hidden_size,
                    conventions=o.conventions,
                    layers=moe,
                )
            )
        else:
            ops += _experts(m, o, src, "mlp_out", moe)
    if m.post_norms:
        ops.append(_norm(m, o, "post_mlp_norm", "mlp_out", "mlp_out_n"))
    return ops


def _block(
    m: ModelSpec,
    o: AnalysisOptions,
    device: Device | None,
    mlp_layers: tuple[int, int],
) -> list[Operator]:
    if m.is_hybrid:
        return _hybrid_block(m, o, device, mlp_layers)
    if m.hc_streams:
        return _hyper_block(m, o, device, mlp_layers)
    attn_out = "attn_out_n" if m.post_norms else "attn_out"
    mlp_out = "mlp_out_n" if m.post_norms else "mlp_out"
    add = ResidualAdd
    if m.parallel_block:
        # Attention and MLP both read the block input; one add sums all three (GPT-J, NeoX, Falcon).
        ops: list[Operator] = [_norm(m, o, "attn_norm", "x", "xa")]
        mlp_src = "xa"
        if m.norms_per_block >= 2:
            ops.append(_norm(m, o, "mlp_norm", "x", "xm"))
            mlp_src = "xm"
        ops += _attention(m, o, device, "xa")
        ops += _mlp(m, o, mlp_src, mlp_layers)
        ops.append(
            add(
                "residual_add",
                "block",
                ("x", attn_out, mlp_out),
                "y",
                width=m.hidden_size,
                conventions=o.conventions,
            )
        )
        return ops
    res = _attention_residual(m, o, "block")
    ops = [*res("attn_res", "x")]
    # Without pre-norms (OLMo 2) the sublayers read the residual stream itself.
    attn_src, mlp_src = ("xa", "xm") if m.pre_norms else ("x", "x2")
    if m.pre_norms:
        ops.append(_norm(m, o, "attn_norm", "x", "xa"))
    ops += _attention(m, o, device, attn_src)
    ops.append(
        add(
            "attn_add",
            "block",
            ("x", attn_out),
            "x2",
            width=m.hidden_size,
            conventions=o.conventions,
        )
    )
    ops += res("mlp_res", "x2")
    if m.pre_norms:
        ops.append(_norm(m, o, "mlp_norm", "x2", "xm"))
    ops += _mlp(m, o, mlp_src, mlp_layers)
    ops.append(
        add(
            "mlp_add", "block", ("x2", mlp_out), "y", width=m.hidden_size, conventions=o.conventions
        )
    )
    return ops


def _hyper_block(
    m: ModelSpec, o: AnalysisOptions, device: Device | None, mlp_layers: tuple[int, int]
) -> list[Operator]:
    """DeepSeek-V4's block: each sublayer reads the collapse of the `hc_streams` residual
    streams and writes the streams back mixed with its output (core.compressed), in place of
    the residual adds."""
    conv = o.conventions
    return [
        hyper_connection(m, conv, "pre", ("x",), "xc", "hc_attn_pre"),
        _norm(m, o, "attn_norm", "xc", "xa"),
        *_attention(m, o, device, "xa"),
        hyper_connection(m, conv, "post", ("x", "attn_out"), "x2", "hc_attn_post"),
        hyper_connection(m, conv, "pre", ("x2",), "x2c", "hc_mlp_pre"),
        _norm(m, o, "mlp_norm", "x2c", "xm"),
        *_mlp(m, o, "xm", mlp_layers),
        hyper_connection(m, conv, "post", ("x2", "mlp_out"), "y", "hc_mlp_post"),
    ]


def _gated_attention(m: ModelSpec, ops: list[Operator], src: str) -> list[Operator]:
    """Qwen3-Next's output gate: attn * sigmoid(x W_g) before o_proj (W_g is the second half of
    its q_proj); Step 3.5/3.7's, one logit per head (g_proj: h -> heads, no bias), each
    scaling its head's outputs."""
    out: list[Operator] = []
    per_head = m.attention_head_gate
    for op in ops:
        if op.name == "o_proj":
            out.append(
                Linear(
                    "attn_gate_proj",
                    "block",
                    (src,),
                    "attn_gate",
                    in_features=m.hidden_size,
                    # One logit per head, or one per output value (H x v_head_dim under MLA:
                    # Kimi K3).
                    out_features=m.num_heads if per_head else op.in_features,
                    bias=not per_head and m.qkv_bias,
                    layers=op.layers,
                )
            )
            if per_head:
                gate: Operator = HeadGate(
                    "attn_gate_act",
                    "block",
                    ("attn", "attn_gate"),
                    "attn_gated",
                    num_heads=m.num_heads,
                    head_dim=op.in_features // m.num_heads,
                    layers=op.layers,
                )
            else:
                gate = Activation(
                    "attn_gate_act",
                    "block",
                    ("attn", "attn_gate"),
                    "attn_gated",
                    width=op.in_features,
                    function="sigmoid",
                    layers=op.layers,
                )
            out.append(gate)
            op = replace(op, inputs=("attn_gated",))
        out.append(op)
    return out


def _hybrid_block(
    m: ModelSpec, o: AnalysisOptions, device: Device | None, mlp_layers: tuple[int, int]
) -> list[Operator]:
    """A block whose layers differ: each operator says in how many of the model's layers it
    appears (a pipeline stage holds its share of each: `ModelSpec.all_layers`). A layer
    holds attention or the recurrent mixer (both side by side in Falcon-H1, summed into the
    residual), then an MLP where `mlp_layers` says so (Nemotron-H has MLP-only layers)."""
    n = m.all_layers
    attention, mixer = m.attention_layers_count, m.mixer_layers
    side_by_side = attention + mixer > n
    mixing = n if side_by_side else attention + mixer
    conv = o.conventions

    def add(name: str, inputs: tuple[str, ...], out: str, layers: int) -> ResidualAdd:
        return ResidualAdd(
            name, "block", inputs, out, width=m.hidden_size, conventions=conv, layers=layers
        )

    ops: list[Operator] = []
    res = _attention_residual(m, o, "block")
    if mixing:
        ops += res("attn_res", "x")
        ops.append(replace(_norm(m, o, "attn_norm", "x", "xa"), layers=mixing))
    if attention:
        ops += [replace(op, layers=attention) for op in _attention(m, o, device, "xa")]
    if mixer and m.mixer is not None:
        ops += mixer_operators(m.mixer, m.hidden_size, "xa", "mix_out", mixer, conv)
    if side_by_side:
        ops.append(add("attn_add", ("x", "attn_out", "mix_out"), "x2", n))
    else:
        if attention:
            ops.append(add("attn_add", ("x", "attn_out"), "x2", attention))
        if mixer:
            ops.append(add("mixer_add", ("x", "mix_out"), "x2", mixer))
    mlp = m.mlp_layers_count
    if mlp:
        ops += res("mlp_res", "x2")
        ops.append(replace(_norm(m, o, "mlp_norm", "x2", "xm"), layers=mlp))
        ops += _mlp(m, o, "xm", mlp_layers)
        ops.append(add("mlp_add", ("x2", "mlp_out"), "y", mlp))
    return ops


def depth_sources(layers: int, block: int) -> tuple[float, int]:
    """Block Attention Residuals (Kimi K3 report, Eq. 10): the sources layer l (0-based) attends
    over are the embedding, the l // block sealed block sums and, past a block's first layer,
    the current block's partial sum. Returns their mean over the layers and the count the
    output attends over (every block, the last one partial)."""
    per_layer = [1 + i // block + (1 if i % block else 0) for i in range(layers)]
    return sum(per_layer) / layers, 1 + layers // block + (1 if layers % block else 0)


def _attention_residual(m: ModelSpec, o: AnalysisOptions, scope: str):
    """A function adding one AttnRes operator over the stream `x` (nothing without AttnRes)."""

    def add(name: str, x: str) -> list[Operator]:
        if m.attn_res_block is None:
            return []
        mean, final = depth_sources(m.all_layers, m.attn_res_block)
        sources = final if scope == "head" else mean
        return [
            DepthAttention(
                name, scope, (x,), x, width=m.hidden_size, sources=sources,
                conventions=o.conventions,
            )
        ]  # fmt: skip

    return add


def _head(m: ModelSpec, o: AnalysisOptions) -> list[Operator]:
    ops: list[Operator] = _attention_residual(m, o, "head")("output_res", "y")
    last = "y"
    if m.hc_streams:
        ops.append(hyper_connection(m, o.conventions, "head", ("y",), "yc", "hc_head", "head"))
        last = "yc"
    if m.final_norm:
        ops.append(_norm(m, o, "final_norm", last, "yn", scope="head"))
        last = "yn"
    if m.embed_dim is not None:
        ops.append(
            Linear(
                "project_out",
                "head",
                (last,),
                "yp",
                in_features=m.hidden_size,
                out_features=m.embed_dim,
                quantized=False,
            )
        )
        last = "yp"
    head_cls = TiedLinear if m.tied_embeddings else Linear
    # Only each sequence's last position is needed to pick the next token.
    ops.append(
        head_cls(
            "lm_head",
            "head",
            (last,),
            "logits",
            in_features=m.token_embed_dim,
            out_features=m.vocab_size,
            bias=m.lm_head_bias,
            quantized=False,
            last_token_only=True,
        )
    )
    return ops
