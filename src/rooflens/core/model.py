"""The normalized, immutable description of a decoder-only LLM."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    model_validator,
)

from rooflens.core.errors import Declared
from rooflens.core.mixers import Mixer
from rooflens.core.operators import ACTIVATION_OPS, INDEX_KEY_SCALE_BYTES
from rooflens.core.options import Quantization

NormKind = Literal["rmsnorm", "layernorm"]


# The kinds of block linears a checkpoint's quantization_config names: attention (with its
# output gate), a recurrent mixer's projections (Mamba, Gated DeltaNet, KDA, lightning),
# DeepSeek's indexer, the dense MLP, the routed and shared experts, the router, and a latent
# MoE's projections into and out of the experts' width.
ModuleClass = Literal[
    "attention", "mixer", "indexer", "mlp", "experts", "shared_experts", "router", "latent"
]
MODULE_CLASSES: tuple[str, ...] = ModuleClass.__args__  # type: ignore[attr-defined]


class CheckpointQuant(BaseModel):
    """How a checkpoint stores its block linears (its config's `quantization_config`):
    `quantization` for every module class but `unquantized`, which stay 16-bit, and the
    operators of `partial`, which stay 16-bit in some of their layers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    quantization: Quantization
    unquantized: tuple[ModuleClass, ...] = ()
    # (module class, its storage) where it differs from `quantization`: DeepSeek-V4's FP4
    # routed experts in an FP8 checkpoint (its config's `expert_dtype`), GPTQModel's `dynamic`
    # overrides (8-bit MLPs beside 4-bit attention), and "lm_head" where GPTQ quantizes the
    # head (its `lm_head`), which is otherwise 16-bit.
    # A key may also name one operator, where a checkpoint stores a class's operators apart
    # (ModelOpt MIXED_PRECISION: Qwen3.5's mixer_in_proj in FP8, its mixer_ba_proj 16-bit).
    modules: tuple[tuple[ModuleClass | Literal["lm_head"] | str, Quantization], ...] = ()
    # (operator, layers of it left at 16 bits, layers holding it) where a checkpoint names the
    # modules of some layers only (Nemotron 3 Nano's NVFP4 export keeps the Mamba projections
    # of 6 of its 23 Mamba layers in BF16), or some of a class's projections only.
    partial: tuple[tuple[str, int, int], ...] = ()
    # (field, where quantization_config gives it): errors about a stored value name its key,
    # or the method's default that stands for an absent one ("group_size (gptq default 128)").
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def experts(self) -> Quantization | None:
        """The routed experts' own storage, where the checkpoint keeps them apart."""
        return dict(self.modules).get("experts")

    def source(self, field: str) -> str | None:
        """Where the config gives `field` of `quantization`, as "quantization_config.<key>"."""
        key = dict(self.sources).get(field)
        return None if key is None else f"quantization_config.{key}"


# Structural sizes orders of magnitude beyond any model's (the largest have about 100 layers,
# widths of tens of thousands, vocabularies of 262k, contexts of 10M): a config past them is a
# typo, whose footprint in exabytes would be no answer.
MAX_LAYERS = 10_000
MAX_WIDTH = 1 << 22
MAX_COUNT = 1 << 16
Layers = Annotated[int, Field(gt=0, le=MAX_LAYERS)]
Width = Annotated[int, Field(gt=0, le=MAX_WIDTH)]
Count = Annotated[int, Field(gt=0, le=MAX_COUNT)]


def _known_activation(name: str) -> str:
    # Each activation's cost per element is a formula the core knows; no guessing.
    if name not in ACTIVATION_OPS:
        raise ValueError(f"expected one of {', '.join(ACTIVATION_OPS)}")
    return name


# An MLP activation, the language model's or a vision tower's.
ActivationName = Annotated[str, AfterValidator(_known_activation)]


class VisionSpec(BaseModel):
    """A ViT encoder and its projector into the language model (SigLIP, Qwen3-VL, Pixtral,
    Llama 4): a patch embedding of `patch_inputs` values per patch, `num_layers`
    bidirectional blocks over `patches` patches per image, then projector linears (in, out)
    that hand `tokens_per_image` tokens to the language model (after pooling or merging)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_layers: Layers
    hidden_size: Width
    num_heads: Count
    # K/V heads where fewer than the query heads (EXAONE 4.5's grouped-query tower); None: one
    # per query head.
    num_kv_heads: Count | None = None
    intermediate_size: Width
    patches: PositiveInt
    tokens_per_image: PositiveInt
    patch_inputs: Width
    patch_bias: bool = True
    gated_mlp: bool = False
    activation: ActivationName = "gelu_pytorch_tanh"
    norm: NormKind = "layernorm"
    bias: bool = True
    # Rows of a learned position table (0: rotary positions only).
    position_rows: int = 0
    final_norm: bool = True
    projector: tuple[tuple[Width, Width], ...] = ()
    projector_bias: bool = True
    # Norms inside the projector, by width, and their kind.
    projector_norms: tuple[Width, ...] = ()
    projector_norm: NormKind = "layernorm"
    # The projector's norms after its linears rather than before (Kimi K3's post_norm).
    projector_norms_after: bool = False
    # Width of q, k and v when it differs from hidden_size (Kimi K3's MoonViT: 1536 over 1024).
    attention_width: Width | None = None
    # The first projector linear that runs on the merged tokens; those before it run on every
    # patch (MiniMax-M3's linear_1 and linear_2 before its merge_linear_1 and _2: 2). 0: the
    # tower merges or pools its patches before the projector (Qwen3-VL, Gemma 3, Pixtral).
    projector_merged_from: Annotated[int, Field(ge=0)] = 0
    # Window attention (Qwen2.5-VL): `window_layers` of the blocks attend only within windows
    # of patches, each patch to `window_keys` keys (the mean over the image's windows, which
    # are smaller at its edges, rounded); the other blocks attend to every patch of the image.
    window_layers: Annotated[int, Field(ge=0, le=MAX_LAYERS)] = 0
    window_keys: PositiveInt | None = None
    # Rows per image the projector's linears from `projector_merged_from` on run on, where
    # they differ from tokens_per_image (LLaVA-NeXT: every crop's features, before the
    # unpadding and the newline tokens that make the tokens the language model reads).
    projector_rows: PositiveInt | None = None

    @model_validator(mode="after")
    def _check_projector(self) -> VisionSpec:
        if self.num_kv_heads is not None and self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_kv_heads={self.num_kv_heads} must divide num_heads={self.num_heads}"
            )
        if self.projector_merged_from > len(self.projector):
            raise ValueError(
                f"projector_merged_from={self.projector_merged_from} must be at most the "
                f"{len(self.projector)} projector linears"
            )
        if (self.window_keys is None) != (self.window_layers == 0) or (
            self.window_layers > self.num_layers
            or (self.window_keys is not None and self.window_keys > self.patches)
        ):
            raise ValueError(
                f"window_layers={self.window_layers} and window_keys={self.window_keys} go "
                f"together, within num_layers={self.num_layers} and patches={self.patches}"
            )
        return self


def apportioned(counts: tuple[int, ...], kept: int) -> list[int]:
    """`kept` layers shared among kinds of interleaved layers (`counts`, which sum to the
    layers) in proportion, largest remainders first, every kind that had layers keeping one
    while there are as many layers as kinds: depth pruning that kept every layer of one kind
    it could removed the others first (Gemma 3 1B halved kept no global layer)."""
    total = sum(counts)
    present = sum(1 for c in counts if c > 0)
    exact = [c * kept / total for c in counts]
    floor = [1 if c > 0 and kept >= present else 0 for c in counts]
    shares = [max(f, int(e)) for f, e in zip(floor, exact, strict=True)]
    while sum(shares) > kept:  # the floors took more: from the kind furthest above its share
        over = max((i for i in range(len(counts)) if shares[i] > floor[i]),
                   key=lambda i: shares[i] - exact[i])  # fmt: skip
        shares[over] -= 1
    while sum(shares) < kept:  # the largest remainder first
        under = max(range(len(counts)), key=lambda i: exact[i] - shares[i])
        shares[under] += 1
    return shares


class ModelSpec(Declared):
    """Everything the analysis needs to know about an architecture, nothing about a checkpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model_type: str
    num_layers: Layers
    # On one pipeline stage's slice (techniques.parallelism.local_model) `num_layers` is the
    # stage's layers; every count of layers of a kind (window_layers, chunk_layers, index_layers,
    # attention_layers, mixer_layers, mlp_layers, dense_layers) still counts the whole model's,
    # which this keeps.
    model_layers: PositiveInt | None = None
    hidden_size: Width
    num_heads: Count
    num_kv_heads: Count
    head_dim: Width
    intermediate_size: Width
    vocab_size: Annotated[int, Field(gt=0, le=1 << 24)]
    max_positions: Annotated[int, Field(gt=0, le=1 << 31)]
    # False where the config names no context length and max_positions is the engines' default
    # (vLLM's max_model_len of 2,048 for Mamba's configs), which refusals then say.
    positions_stated: bool = True
    tied_embeddings: bool
    gated_mlp: bool
    activation: ActivationName
    norm: NormKind
    norm_bias: bool = False
    # False: the norms learn neither gain nor bias (OLMo 1's non-parametric LayerNorm,
    # nanochat's RMSNorm): the same arithmetic, no parameter.
    norm_gain: bool = True
    # True: the RMSNorm scales by (1 + weight), its gain stored as an offset from one (Gemma's
    # GemmaRMSNorm, Qwen3-Next's, Qwen3.5's, MiniMax-M3's, Step 3.7's); the engines' eager
    # kernels add one more step for it (core.framework_kernels).
    norm_offset: bool = False
    # Norms per block: 2 in a sequential block, 1 where attention and MLP share one (GPT-J,
    # Falcon-7B), 4 with Gemma-2's extra post-norms.
    norms_per_block: PositiveInt = 2
    post_norms: bool = False
    # Norms before attention and the MLP; without them (OLMo 2, EXAONE 4.0) each sublayer
    # reads the residual stream and only its output is normed (`post_norms`).
    pre_norms: bool = True
    parallel_block: bool = False
    # Under TP a parallel block's attention and MLP outputs each all-reduced (vLLM's GPT-J:
    # two RowParallelLinear; GPT-NeoX and Phi on its Transformers backend), not their sum
    # once (vLLM's Falcon and Command R).
    parallel_reduce_each: bool = False
    qk_norm: bool = False
    # q/k norms over the whole projection (MiniMax-M2) rather than per head (Qwen3, Gemma 3).
    qk_norm_whole: bool = False
    # How engines split those norms over tensor parallelism: an all-reduce of each device's
    # sums of squares (MiniMax: vLLM's MiniMaxText01RMSNormTP), or, where this is set, q and
    # k gathered whole and normed on every device (OLMo 2/3 and OLMoE: vLLM's and SGLang's
    # _apply_qk_norm).
    qk_norm_gathered: bool = False
    # Per-head q/k norms whose every head has a gain of its own (Command R+'s CohereLayerNorm
    # over (heads, head_dim)): statistics per head, as Qwen3's, but H·d and H_kv·d gains.
    qk_norm_head_gains: bool = False
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    lm_head_bias: bool = False
    final_norm: bool = True
    learned_positions: int = 0
    # ALiBi position biases in the attention scores (BLOOM, MPT): no rotary positions.
    alibi: bool = False
    # OPT-350m embeds in a narrower width and projects in and out of the residual stream.
    embed_dim: PositiveInt | None = None
    # A norm of the model's kind over the embedding before the first layer (BLOOM's
    # word_embeddings_layernorm).
    embed_norm: bool = False
    sliding_window: PositiveInt | None = None
    # Layers that use the window (None: all of them; Gemma-2 alternates local and global).
    window_layers: int | None = None
    # Gemma 4's global (non-window) layers attend with their own head size and KV heads, and
    # with keys that are also the values (no v_proj) where `global_k_eq_v`.
    global_head_dim: Width | None = None
    global_kv_heads: Count | None = None
    global_k_eq_v: bool = False
    # Step 3.5/3.7's global layers attend with their own query-head count too (64 beside the
    # window layers' 96); None: num_heads.
    global_heads: Count | None = None
    # The global layers' attention sinks where they differ from the window layers'
    # (`attention_sinks`): MiMo-V2-Flash's sliding layers have them, its full layers not.
    # None: as `attention_sinks`.
    global_sinks: bool | None = None
    # Chunked local attention (Llama 4): `chunk_layers` layers attend only to the keys of their
    # own `attention_chunk`-token chunk; the others attend globally.
    attention_chunk: PositiveInt | None = None
    chunk_layers: int | None = None
    # A learned logit per head joins every softmax (gpt-oss's attention sinks).
    attention_sinks: bool = False
    # DeepSeek Sparse Attention (V3.2): a lightning indexer of `index_heads` x `index_head_dim`
    # scores every cached key in FP8, then attention reads only the `index_topk` best.
    index_heads: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0
    index_head_dim: Annotated[int, Field(ge=0, le=MAX_WIDTH)] = 0
    index_topk: PositiveInt | None = None
    # Layers that run their own indexer (None: all); the others reuse the previous one's
    # top-k (GLM-5's "shared" indexer layers).
    index_layers: int | None = None
    # Multi-token-prediction modules (DeepSeek-V3, GLM-4.5, Kimi K2): not part of the model that
    # generates; counted apart (rooflens.models.mtp_params) and usable as built-in drafts.
    mtp_layers: Annotated[int, Field(ge=0, le=MAX_LAYERS)] = 0
    # Whether each MTP module stores its own embedding and output head (DeepSeek-V3, GLM-4.5)
    # or uses the main model's (GLM-5: its checkpoint's MTP layer holds neither).
    mtp_own_embeddings: bool = True
    # Whether each MTP module stores its own output head where it reads the main model's
    # embedding (Step 3.5/3.7's shared_head); None: as `mtp_own_embeddings` says.
    mtp_own_head: bool | None = None
    # The MTP modules' block holds a dense MLP of `intermediate_size` where the model's layers
    # are MoE (Step 3.5/3.7: its MoE layers stop before the MTP layers).
    mtp_dense_mlp: bool = False
    # The checkpoint's stored precision (quantization_config), None for 16-bit checkpoints.
    checkpoint_quant: CheckpointQuant | None = None
    # The vision encoder of a multimodal wrapper, priced as its own stage (core.vision).
    vision: VisionSpec | None = None
    # Why a multimodal wrapper is read without its vision encoder, for the refusal of images.
    vision_left_out: str | None = None
    # Mixture of experts: `num_experts` expert MLPs of `expert_intermediate_size`, each token
    # routed to `experts_per_token`; `shared_intermediate_size` for always-on shared experts;
    # the first `dense_layers` layers keep a dense MLP of `intermediate_size`.
    num_experts: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0
    # Whole numbers in a model; a device's share under expert parallelism may be fractional.
    experts_per_token: float = 0
    expert_intermediate_size: Width | None = None
    shared_intermediate_size: Width | None = None
    shared_expert_gate: bool = False
    # Latent MoE (Kimi K3, Nemotron 3 Super): routed experts work in this narrower width, with
    # one projection into it (then an RMSNorm where `expert_latent_norm`: Kimi K3's, not
    # Nemotron's) and one back out, shared by all experts. `expert_latent_quantized`: the
    # projections follow the checkpoint's recipe (Nemotron-H's fc1/fc2_latent_proj, which vLLM
    # builds with the model's quant_config), else they are 16-bit (Kimi K3's checkpoint).
    expert_latent_size: Width | None = None
    expert_latent_norm: bool = True
    expert_latent_quantized: bool = False
    router_bias: bool = False
    dense_layers: int = 0
    # Gemma 4 (26B-A4B): the routed experts run beside the dense MLP of `intermediate_size` in
    # every layer, each branch with its own norms; router and experts read the residual stream.
    moe_beside_mlp: bool = False
    # Multi-head latent attention (DeepSeek-V2/V3): queries through a `q_lora_rank` bottleneck,
    # keys and values cached as one `kv_lora_rank` latent plus a shared rotary key of
    # `qk_rope_head_dim`; `head_dim` is the query/key width (no-rope + rope parts).
    # `v_head_dim` is the value heads' width where it differs from the query/key width: MLA's,
    # or (without MLA) MiMo-V2's GQA of 192-wide queries and keys and 128-wide values, in every
    # layer kind alike; None: head_dim.
    q_lora_rank: PositiveInt | None = None
    kv_lora_rank: PositiveInt | None = None
    qk_rope_head_dim: int = 0
    v_head_dim: PositiveInt | None = None
    # Hybrids (docs/model.md, "Recurrent mixers and hybrids"): `mixer_layers` layers hold the
    # fixed-state `mixer`; `attention_layers` hold softmax attention (None: all); `mlp_layers`
    # hold an MLP (None: all). A layer holds one mixer, except when attention and the mixer are
    # in every layer side by side (Falcon-H1). `attention_output_gate`: sigmoid(x W_g) scales
    # the attention output (Qwen3-Next).
    mixer: Mixer | None = None
    mixer_layers: int = 0
    attention_layers: int | None = None
    mlp_layers: int | None = None
    attention_output_gate: bool = False
    # Dense MLPs whose width differs by layer (Nemotron-NAS's per-block ffn_mult): (width,
    # layers) for each width, narrowest first, summing to the MLP layers; `intermediate_size`
    # is the widest. Empty: every MLP layer is `intermediate_size` wide.
    mlp_widths: tuple[tuple[Width, Layers], ...] = ()
    # One sigmoid gate per head instead (Step 3.5/3.7's g_proj, h -> heads): attn * sigmoid(x W_g)
    # with each head's logit scaling its head_dim outputs (under MLA its v_head_dim ones: Ling 3).
    attention_head_gate: bool = False
    # DeepSeek-V4 (core.compressed): one shared KV head (keys are the values) over the last
    # `sliding_window` tokens in every layer, plus compressed entries of `csa_ratio` tokens
    # (`csa_layers` layers, the indexer's top-k of them: index_heads, index_head_dim, index_topk)
    # or of `hca_ratio` tokens (`hca_layers` layers, all of them); the rest attend to the
    # window only. The attention output is projected per group of heads (`o_groups` x
    # `o_lora_rank`), then to the hidden size.
    csa_ratio: int = 0
    csa_layers: int = 0
    hca_ratio: int = 0
    hca_layers: int = 0
    o_groups: int = 0
    o_lora_rank: int = 0
    # MiniMax Sparse Attention (MiniMax-M3, core.block_sparse): in `sparse_layers` layers an
    # indexer (index_heads x index_head_dim, one cached key per token) keeps the `sparse_blocks`
    # best blocks of `sparse_block` keys, and attention reads only those.
    sparse_block: int = 0
    sparse_blocks: int = 0
    sparse_layers: int = 0
    # Manifold-constrained hyper-connections (DeepSeek-V4): the residual stream is this many
    # streams, mixed around every sublayer (0: a plain residual stream).
    hc_streams: int = 0
    hc_sinkhorn_iters: int = 0
    # Block Attention Residuals (Kimi K3): each sublayer's input is a learned softmax over the
    # embedding and the sums of earlier blocks of this many layers (core.graph.depth_sources).
    attn_res_block: PositiveInt | None = None

    @model_validator(mode="after")
    def _check_heads(self) -> ModelSpec:
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads={self.num_heads} must be a multiple of num_kv_heads={self.num_kv_heads}"
            )
        moe = self.expert_intermediate_size is not None or self.experts_per_token
        if moe and self.num_experts < 1:
            # Zero experts with expert widths is no model: never read silently as dense.
            raise ValueError(
                f"num_experts={self.num_experts} is invalid: a mixture of experts needs at "
                "least 1 expert"
            )
        if self.num_experts and not 0 < self.experts_per_token <= self.num_experts:
            raise ValueError(
                f"experts_per_token={self.experts_per_token} must be between 1 and "
                f"num_experts={self.num_experts}"
            )
        if self.moe_beside_mlp and (
            not self.num_experts or self.dense_layers or self.shared_intermediate_size
        ):
            raise ValueError("moe_beside_mlp needs experts, no dense_layers and no shared experts")
        if not 0 <= self.dense_layers <= self.num_layers:
            raise ValueError(f"dense_layers={self.dense_layers} must be within num_layers")
        for field in ("window_layers", "chunk_layers", "index_layers"):
            value = getattr(self, field)
            if value is not None and not 0 <= value <= self.num_layers:
                raise ValueError(f"{field}={value} must be within num_layers")
        if self.index_topk is not None and not (self.index_heads and self.index_head_dim):
            raise ValueError("index_topk needs index_heads and index_head_dim")
        if self.global_head_dim is not None and (
            self.window_layers is None or self.sliding_window is None or self.is_mla
        ):
            raise ValueError("global_head_dim needs window layers (and no MLA) to tell apart")
        if self.global_heads is not None and (
            self.global_head_dim is None
            or self.global_heads % (self.global_kv_heads or self.num_kv_heads)
        ):
            raise ValueError(
                f"global_heads={self.global_heads} needs global_head_dim and must be a multiple "
                "of the global layers' KV heads (global_kv_heads, else num_kv_heads)"
            )
        if self.global_sinks is not None and self.global_head_dim is None:
            raise ValueError("global_sinks needs global_head_dim (global layers of a shape apart)")
        if (
            self.v_head_dim is not None
            and not self.is_mla
            and (self.compressed_attention or self.global_k_eq_v or self.sparse_layers)
        ):
            raise ValueError(
                "v_head_dim without MLA needs keys apart from the values (no compressed "
                "attention, global_k_eq_v or sparse_layers)"
            )
        if self.attention_head_gate and self.attention_output_gate:
            raise ValueError(
                "attention_head_gate (one gate per head) excludes attention_output_gate"
            )
        if self.global_kv_heads is not None and self.num_heads % self.global_kv_heads:
            raise ValueError(
                f"num_heads={self.num_heads} must be a multiple of "
                f"global_kv_heads={self.global_kv_heads}"
            )
        if self.compressed_attention and (
            self.is_mla
            or self.sliding_window is None
            or self.num_kv_heads != 1
            or self.csa_layers + self.hca_layers > self.num_layers
            or (self.csa_layers and not (self.csa_ratio and self.index_topk))
            or (self.hca_layers and not self.hca_ratio)
        ):
            raise ValueError(
                "compressed attention needs one KV head, a sliding window, no MLA, an indexer "
                "for its csa_layers, ratios for its layers, and csa_layers + hca_layers within "
                "num_layers"
            )
        if self.sparse_layers and (
            not (self.sparse_block and self.sparse_blocks and self.index_heads)
            or not self.index_head_dim
            or self.is_mla
            or self.compressed_attention
            or self.sparse_layers > self.num_layers
        ):
            raise ValueError(
                "sparse_layers needs sparse_block, sparse_blocks and an indexer (index_heads, "
                "index_head_dim), no MLA or compressed attention, and at most num_layers"
            )
        if self.o_groups and (self.num_heads % self.o_groups or not self.o_lora_rank):
            raise ValueError(
                f"o_groups={self.o_groups} must divide num_heads={self.num_heads} and needs "
                "o_lora_rank"
            )
        if self.hc_streams and (self.parallel_block or self.attn_res_block is not None):
            raise ValueError("hc_streams needs sequential blocks without attention residuals")
        if not self.pre_norms and (
            not self.post_norms
            or self.parallel_block
            or self.is_hybrid
            or self.hc_streams
            or self.attn_res_block is not None
        ):
            raise ValueError(
                "pre_norms=False needs post_norms and a plain sequential block (no parallel "
                "block, hybrid layers, hyper-connections or attention residuals)"
            )
        if self.attn_res_block is not None and self.parallel_block:
            raise ValueError("attn_res_block needs sequential blocks (parallel_block is set)")
        if self.learned_positions < 0:
            raise ValueError(f"learned_positions={self.learned_positions} must be >= 0")
        if self.qk_norm_gathered and not (self.qk_norm and self.qk_norm_whole):
            raise ValueError("qk_norm_gathered needs qk_norm and qk_norm_whole")
        if self.norm_bias and not self.norm_gain:
            raise ValueError("norm_bias needs norm_gain (a norm without a gain has no bias)")
        if self.qk_norm_head_gains and not (self.qk_norm and not self.qk_norm_whole):
            raise ValueError("qk_norm_head_gains needs qk_norm per head (not qk_norm_whole)")
        self._check_hybrid()
        self._check_mlp_widths()
        return self

    def _check_mlp_widths(self) -> None:
        if not self.mlp_widths:
            return
        widths = [width for width, _ in self.mlp_widths]
        layers = sum(count for _, count in self.mlp_widths)
        if (
            self.is_moe
            or widths != sorted(widths)
            or widths[-1] != self.intermediate_size
            or layers != self.mlp_layers_count
        ):
            raise ValueError(
                f"mlp_widths={self.mlp_widths} must be dense MLP widths, narrowest first, the "
                f"widest intermediate_size={self.intermediate_size}, over the "
                f"{self.mlp_layers_count} MLP layers"
            )

    def _check_hybrid(self) -> None:
        n = self.num_layers
        for name in ("mixer_layers", "attention_layers", "mlp_layers"):
            count = getattr(self, name)
            if count is not None and not 0 <= count <= n:
                raise ValueError(f"{name}={count} must be within num_layers={n}")
        if (self.mixer is None) != (self.mixer_layers == 0):
            raise ValueError("mixer and mixer_layers > 0 go together")
        attention = self.attention_layers_count
        side_by_side = attention == n and self.mixer_layers == n
        if attention + self.mixer_layers > n and not side_by_side:
            raise ValueError(
                f"attention_layers={attention} + mixer_layers={self.mixer_layers} exceed "
                f"num_layers={n}: layers hold one mixer, or both in every layer"
            )

    def pruned(self, heads: float = 0.0, width: float = 0.0, depth: float = 0.0) -> ModelSpec:
        """Structured pruning (LLM-Pruner, Sheared-LLaMA): remove a share of the attention heads
        (KV groups kept whole), of the MLP channels (and expert channels) and of the layers."""
        from rooflens.core.errors import InvalidInputError

        for field, share in (
            ("prune_heads", heads),
            ("prune_width", width),
            ("prune_depth", depth),
        ):
            if not 0 <= share < 1:
                raise InvalidInputError(field, share, "a share in [0, 1)")
        if heads == width == depth == 0:
            return self
        if depth and self.is_hybrid:
            raise InvalidInputError(
                "prune_depth",
                depth,
                "0 for hybrid models (which kinds of layer go is not modelled)",
            )
        kv = max(1, round(self.num_kv_heads * (1 - heads)))
        layers = max(1, round(self.num_layers * (1 - depth)))
        # A share that rounds to nothing removed would be listed as applied while changing
        # nothing: refused, with the least share that removes one.
        for field, share, whole, left, unit in (
            ("prune_heads", heads, self.num_kv_heads, kv, "KV groups (query heads go with them)"),
            ("prune_depth", depth, self.num_layers, layers, "layers"),
        ):
            if share and left == whole:
                least = (
                    f"0: {self.name} has 1 of its {unit}, which it keeps"
                    if whole == 1
                    else f"0, or above {0.5 / whole:.3g}: {self.name} has {whole} {unit}, and "
                    f"{share:g} of them rounds to none"
                )
                raise InvalidInputError(field, share, least)
        widest = self.intermediate_size or self.expert_intermediate_size or 0
        if width and widest and round(widest * (1 - width)) == widest:
            raise InvalidInputError(
                "prune_width",
                width,
                f"0, or above {0.5 / widest:.3g}: {self.name}'s {widest} MLP channels, and "
                f"{width:g} of them rounds to none",
            )

        def interleaved(count: int | None) -> int | None:
            # Window layers among global ones, chunked among full: each kind keeps its share.
            if count is None:
                return None
            return apportioned((count, self.num_layers - count), layers)[0]

        compressed = apportioned(
            (self.csa_layers, self.hca_layers, self.num_layers - self.csa_layers - self.hca_layers),
            layers,
        )
        # Global layers of their own shape (Gemma 4's fewer KV heads, Step's fewer query heads)
        # lose the same share of their KV groups, each group kept whole.
        global_kv = (
            None
            if self.global_kv_heads is None
            else max(1, round(self.global_kv_heads * (1 - heads)))
        )
        global_heads = (
            None
            if self.global_heads is None
            else (global_kv or kv)
            * (self.global_heads // (self.global_kv_heads or self.num_kv_heads))
        )
        if global_kv is not None and (kv * self.gqa_group) % global_kv:
            raise InvalidInputError(
                "prune_heads",
                heads,
                f"a share that leaves {self.name}'s global layers' KV heads dividing its "
                f"attention heads ({kv * self.gqa_group} heads, {global_kv} global KV heads)",
            )

        def keep(size: int | None) -> int | None:
            return None if size is None else max(1, round(size * (1 - width)))

        return self.model_copy(
            update={
                # What is kept, as counted (shares round to whole groups, channels, layers).
                "name": f"{self.name} (pruned: {kv} of {self.num_kv_heads} KV groups, "
                f"{keep(self.intermediate_size)} of {self.intermediate_size} MLP channels, "
                f"{layers} of {self.num_layers} layers)",
                "num_heads": kv * self.gqa_group,
                "num_kv_heads": kv,
                "global_kv_heads": global_kv,
                "global_heads": global_heads,
                "intermediate_size": keep(self.intermediate_size),
                "mlp_widths": tuple((keep(w), n) for w, n in self.mlp_widths),
                "expert_intermediate_size": keep(self.expert_intermediate_size),
                "shared_intermediate_size": keep(self.shared_intermediate_size),
                "num_layers": layers,
                "dense_layers": min(self.dense_layers, layers),
                "window_layers": interleaved(self.window_layers),
                "chunk_layers": interleaved(self.chunk_layers),
                "index_layers": None
                if self.index_layers is None
                else min(self.index_layers, layers),
                "sparse_layers": apportioned(
                    (self.sparse_layers, self.num_layers - self.sparse_layers), layers
                )[0],
                "csa_layers": compressed[0],
                "hca_layers": compressed[1],
            }
        )

    @property
    def rotary_positions(self) -> bool:
        """Whether attention rotates q and k (every model but those with a learned position
        table or ALiBi; NoPE layers of Llama 4 and SmolLM3 are not told apart)."""
        return self.learned_positions == 0 and not self.alibi

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def value_dim(self) -> int:
        """Width of one value head: `v_head_dim` where set (MLA, MiMo-V2), else head_dim."""
        return self.v_head_dim or self.head_dim

    @property
    def gqa_group(self) -> int:
        """Query heads that share one key/value head (1 = MHA, num_heads = MQA)."""
        return self.num_heads // self.num_kv_heads

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def compressed_attention(self) -> bool:
        """DeepSeek-V4's window + compressed-entry attention (core.compressed)."""
        return bool(self.csa_ratio or self.hca_ratio)

    @property
    def kv_elements_per_token(self) -> int:
        """Cached values per token and layer: K and V of every KV head (values of
        `value_dim`), MLA's latent, or DeepSeek-V4's one vector that is both key and value."""
        if self.kv_lora_rank is not None:
            return self.kv_lora_rank + self.qk_rope_head_dim
        if self.compressed_attention:
            return self.kv_dim
        return self.num_kv_heads * (self.head_dim + self.value_dim)

    @property
    def index_key_bytes(self) -> float:
        """Bytes per token and layer of DSA's cached index key (FP8 values and an fp32 scale),
        averaged over the layers that run an indexer."""
        if not self.index_topk or self.compressed_attention:
            # DeepSeek-V4 caches index keys per compressed entry (core.graph.kv_spans).
            return 0.0
        whole = self.all_layers
        share = (whole if self.index_layers is None else self.index_layers) / whole
        return (self.index_head_dim + INDEX_KEY_SCALE_BYTES) * share

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_hybrid(self) -> bool:
        """Layers differ in what they hold (recurrent mixers, attention-only or MLP-only)."""
        return (
            self.mixer is not None
            or self.attention_layers is not None
            or (self.mlp_layers is not None)
        )

    @property
    def all_layers(self) -> int:
        """The whole model's layers, which the per-kind layer counts refer to."""
        return self.model_layers or self.num_layers

    @property
    def attention_layers_count(self) -> int:
        return self.all_layers if self.attention_layers is None else self.attention_layers

    @property
    def mlp_layers_count(self) -> int:
        return self.all_layers if self.mlp_layers is None else self.mlp_layers

    @property
    def token_embed_dim(self) -> int:
        return self.embed_dim or self.hidden_size
