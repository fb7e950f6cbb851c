"""The vision encoder of a multimodal model, priced as its own prefill stage.

A ViT turns each image into `patches` patch embeddings, runs `num_layers` bidirectional blocks
over them (every patch attends to every patch of its image: the full q x k block, which the
eager attention operators price), and a projector hands `tokens_per_image` tokens to the
language model, whose prefill then includes them as prompt tokens.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rooflens.core.cache import BoundedCache
from rooflens.core.graph import Graph, flash_tile_rows
from rooflens.core.hardware import Device
from rooflens.core.memory import weight_bytes
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.core.operators import (
    Activation,
    AttentionScores,
    AttentionValues,
    Embedding,
    FlashAttention,
    Linear,
    Norm,
    Operator,
    ResidualAdd,
    Softmax,
    Step,
)
from rooflens.core.options import AnalysisOptions
from rooflens.core.plan import step_plan
from rooflens.core.pricing import StepCosts, price_step
from rooflens.core.validation import positive_int_array


def vision_graph(
    v: VisionSpec, options: AnalysisOptions | None = None, flash_rows: int | None = None
) -> Graph:
    """Patch embedding, one ViT block (times num_layers) and the projector. The encoder runs
    at 16 bits: checkpoints quantize the language model, not the vision tower. `flash_rows`:
    attention as one fused kernel with query tiles of that many rows (None: eager)."""
    conv = (options or AnalysisOptions()).conventions
    h, heads = v.hidden_size, v.num_heads
    # q, k and v may be wider than the stream (Kimi K3's MoonViT); o_proj maps back.
    inner = v.attention_width or h
    d = inner // heads
    # Grouped-query towers (EXAONE 4.5) project and read fewer keys and values.
    kv_heads = v.num_kv_heads or heads
    kv_width = kv_heads * d
    common = {"bias": v.bias, "quantized": False}

    def norm(name: str, src: str, dst: str, width: int, scope: str = "block", kind=v.norm) -> Norm:
        return Norm(
            name,
            scope,
            (src,),
            dst,
            width=width,
            kind=kind,
            bias=kind == "layernorm",
            conventions=conv,
        )

    # The patch embedding is a convolution with stride = kernel: one GEMM over the patches.
    ops: list[Operator] = [
        Linear(
            "vision_patch_embed",
            "head",
            ("pixels",),
            "p0",
            in_features=v.patch_inputs,
            out_features=h,
            bias=v.patch_bias,
            quantized=False,
        ),
    ]
    if v.position_rows:
        ops.append(
            Embedding(
                "vision_positions",
                "head",
                ("p0",),
                "x",
                rows=v.position_rows,
                width=h,
                add_to_input=True,
            )
        )
    else:
        ops[-1] = Linear(
            "vision_patch_embed",
            "head",
            ("pixels",),
            "x",
            in_features=v.patch_inputs,
            out_features=h,
            bias=v.patch_bias,
            quantized=False,
        )
    attn = {"num_heads": heads, "num_kv_heads": kv_heads, "head_dim": d}
    ops += [
        norm("vision_attn_norm", "x", "xa", h),
        Linear("vision_q_proj", "block", ("xa",), "q", in_features=h, out_features=inner, **common),
        Linear(
            "vision_k_proj", "block", ("xa",), "k", in_features=h, out_features=kv_width, **common
        ),
        Linear(
            "vision_v_proj", "block", ("xa",), "v", in_features=h, out_features=kv_width, **common
        ),
        *_attention_core(v, attn, flash_rows),
        Linear(
            "vision_o_proj", "block", ("attn",), "ao", in_features=inner, out_features=h, **common
        ),
        ResidualAdd("vision_attn_add", "block", ("x", "ao"), "x2", width=h, conventions=conv),
        norm("vision_mlp_norm", "x2", "xm", h),
    ]
    width = v.intermediate_size
    if v.gated_mlp:
        ops.append(
            Linear(
                "vision_gate_proj",
                "block",
                ("xm",),
                "g",
                in_features=h,
                out_features=width,
                **common,
            )
        )
    ops += [
        Linear(
            "vision_up_proj", "block", ("xm",), "u", in_features=h, out_features=width, **common
        ),
        Activation(
            "vision_mlp_act",
            "block",
            ("g", "u") if v.gated_mlp else ("u",),
            "a",
            width=width,
            function=v.activation,
            gated=v.gated_mlp,
        ),
        Linear(
            "vision_down_proj", "block", ("a",), "mo", in_features=width, out_features=h, **common
        ),
        ResidualAdd("vision_mlp_add", "block", ("x2", "mo"), "y", width=h, conventions=conv),
    ]
    last = "y"
    if v.final_norm:
        ops.append(norm("vision_final_norm", last, "yn", h, scope="head"))
        last = "yn"
    # The projector's linears from `projector_merged_from` on run on the tokens the language
    # model receives, the patches merged (Qwen's PatchMerger and GLM-4.xV's downsample
    # concatenate them, Gemma 3 pools them), those before it on every patch; its norms are
    # priced per patch, an upper bound where one runs after the merge.
    merged = (v.projector_rows or v.tokens_per_image) / v.patches
    norms: list[Operator] = []
    linears: list[Operator] = []
    for i, width in enumerate(v.projector_norms):
        norms.append(
            norm(
                f"vision_projector_norm{i}", f"pn{i - 1}", f"pn{i}", width, "head", v.projector_norm
            )
        )
    for i, (n_in, n_out) in enumerate(v.projector):
        linears.append(
            Linear(
                f"vision_projector{i}",
                "head",
                (f"proj{i - 1}",),
                f"proj{i}",
                in_features=n_in,
                out_features=n_out,
                bias=v.projector_bias,
                quantized=False,
                row_share=merged if i >= v.projector_merged_from else 1.0,
            )
        )
    for op in [*linears, *norms] if v.projector_norms_after else [*norms, *linears]:
        ops.append(replace(op, inputs=(last,)))
        last = op.output
    return Graph(
        operators=tuple(ops),
        num_layers=v.num_layers,
        total_layers=v.num_layers,
        hidden_size=v.hidden_size,
    )


def _attention_core(
    v: VisionSpec, attn: dict[str, int], flash_rows: int | None = None
) -> list[Operator]:
    """Scores, softmax and values over every patch of the image, and (Qwen2.5-VL) apart for
    the window layers over the keys of each patch's window: the block-diagonal q x k blocks,
    priced as chunked attention of `window_keys` keys. With `flash_rows`, one bidirectional
    FlashAttention kernel instead (the scores never reach memory), as the engines run their
    vision encoders. Their keys and values are the encoder's own activations: nothing is
    cached (`cached=False`)."""
    kinds = [(v.num_layers - v.window_layers, None), (v.window_layers, v.window_keys)]
    reads = {**attn, "cached": False}
    ops: list[Operator] = []
    for layers, chunk in kinds:
        if not layers:
            continue
        share = {"layers": None if layers == v.num_layers else layers, "chunk": chunk}
        if flash_rows is not None:
            ops.append(
                FlashAttention(
                    "vision_flash_attention",
                    "block",
                    ("q", "k", "v"),
                    "attn",
                    block_rows=flash_rows,
                    causal=False,
                    **reads,
                    **share,
                )
            )
            continue
        # Each window's patches are scored apart (variable-length attention), not masked.
        share["masked_block"] = False
        ops += [
            AttentionScores("vision_qk_matmul", "block", ("q", "k"), "scores", **reads, **share),
            Softmax(
                "vision_softmax",
                "block",
                ("scores",),
                "probs",
                num_heads=v.num_heads,
                **share,
            ),
            AttentionValues("vision_sv_matmul", "block", ("probs", "v"), "attn", **reads, **share),
        ]
    return ops


def _flash_rows(v: VisionSpec, device: Device) -> int:
    """FlashAttention's query tile for the tower's heads, as the language model's (16 bits)."""
    return flash_tile_rows(device, (v.attention_width or v.hidden_size) // v.num_heads, 2.0)


# Built once per (vision tower, options, tile): the graph's plan is then reused too.
_VISION_GRAPHS = BoundedCache(16)


def vision_params(model: ModelSpec) -> int:
    """Parameters of the vision tower and projector (0 for a text-only model)."""
    return vision_graph(model.vision).params() if model.vision else 0


def vision_weight_bytes(model: ModelSpec, options: AnalysisOptions | None = None) -> float:
    """Bytes the tower and projector hold in memory: every parameter once at the width the
    language model keeps unquantized modules at (16 bits; 32 in an fp32 run), the position
    table whole (a pass gathers one row per patch, which may be more rows than the table
    holds, as Qwen3.5's 4,096 patches over 2,304 rows, or fewer)."""
    options = options or AnalysisOptions()
    if model.vision is None:
        return 0.0
    return weight_bytes(vision_graph(model.vision, options), options.quantization)


def image_activations(
    model: ModelSpec, device: Device, images: object, options: AnalysisOptions | None = None
) -> np.ndarray:
    """Peak bytes of the encoder's temporaries while it runs `images` images per request (its
    score matrices where attention is unfused): the vision stage's share of the memory peak,
    before the prefill's."""
    options = options or AnalysisOptions()
    graph, step = _stage(model, device, images, options)
    quant = options.quantization.model_copy(update={"kv_bits": 16})
    return step_plan(graph, quant).fields(step).peak_activation_bytes()


def _stage(
    model: ModelSpec, device: Device, images: object, options: AnalysisOptions
) -> tuple[Graph, Step]:
    """The encoder's graph and the step of `images` images' patches at once."""
    if model.vision is None:
        from rooflens.core.errors import InvalidInputError

        why = f": {model.vision_left_out}" if model.vision_left_out else ""
        raise InvalidInputError("images", images, f"0: {model.name} has no vision encoder{why}")
    n = positive_int_array("images", images)
    v = model.vision
    patches = np.full_like(n, v.patches, dtype=np.float64)
    step = Step(batch=n, new_tokens=patches, past=np.zeros_like(patches))
    rows = _flash_rows(v, device) if options.flash_attention else None
    graph = _VISION_GRAPHS.get((v, options, rows), lambda: vision_graph(v, options, rows))
    return graph, step


def price_images(
    model: ModelSpec,
    device: Device,
    images: object,
    options: AnalysisOptions | None = None,
) -> StepCosts:
    """The vision stage for `images` images per request (arrays broadcast): every image's
    patches through the encoder at once, as a prefill of `patches` tokens per image."""
    options = options or AnalysisOptions()
    graph, step = _stage(model, device, images, options)
    # The encoder caches nothing: its attention reads its own 16-bit keys and values, which
    # are activations, whatever width the language model's KV cache is set to.
    costs = price_step(
        graph,
        device,
        options.quantization.model_copy(update={"kv_bits": 16}),
        step,
        options.calibration,
        options.execution,
        prefill=True,
    )
    return costs
