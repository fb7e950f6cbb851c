"""A checkpoint's `quantization_config` -> how it stores its block linears (CheckpointQuant).

The stored precision is the analysis's default (`default_quantization`, `unquantized_modules`)
unless the user asks for other widths. An unknown `quant_method` is refused, never read as
16-bit. Field meanings follow transformers' quantization config classes
(transformers/utils/quantization_config.py) and compressed-tensors' QuantizationArgs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from rooflens.core.errors import ModelConfigError, type_words
from rooflens.core.graph import build_graph
from rooflens.core.model import MODULE_CLASSES, CheckpointQuant, ModelSpec
from rooflens.core.options import AnalysisOptions, Quantization
from rooflens.core.techniques.quantization import module_class


def default_quantization(spec: ModelSpec) -> Quantization:
    """The checkpoint's stored precision, or 16-bit for a 16-bit checkpoint."""
    return spec.checkpoint_quant.quantization if spec.checkpoint_quant else Quantization()


def held_module_classes(spec: ModelSpec) -> set[str]:
    """The module classes the model holds, and its head."""
    moe = spec.num_experts > 0
    held = {"attention", "lm_head"}
    if not moe or spec.dense_layers or spec.moe_beside_mlp:
        held.add("mlp")
    if moe:
        held |= {"experts", "router"}
    if spec.shared_intermediate_size:
        held.add("shared_experts")
    if spec.index_heads:
        held.add("indexer")
    if spec.mixer is not None:
        held.add("mixer")
    if spec.expert_latent_size:
        held.add("latent")
    return held


def unquantized_modules(spec: ModelSpec) -> tuple[str, ...]:
    """Module classes the checkpoint leaves at 16 bits (AnalysisOptions.unquantized_modules)."""
    return spec.checkpoint_quant.unquantized if spec.checkpoint_quant else ()


# Names in modules_to_not_convert / ignore lists -> module class; embeddings, lm_head, norms,
# vision towers and their projectors (Qwen2-VL's patch_merger, MiniMax-M3's patch_merge_mlp)
# and convolutions (Mamba's conv1d, LFM2's short convolution conv.conv, whose in_proj and
# out_proj are its mixer's) are 16-bit in rooflens anyway. Checked in order: first match wins.
_ALWAYS_16BIT = re.compile(
    r"lm_head|embed|norm|vision|visual|multi_modal_projector|mm_projector|patch_merge|"
    r"\bmtp\b|eh_proj|shared_head|conv1d|conv\.conv\b"
)
_CLASS_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Qwen3-Next's and Qwen3.5's Gated DeltaNet (linear_attn), Jamba's, Falcon-H1's and
    # Granite-4.0-H's Mamba (mamba): before attention, whose "attn" linear_attn contains.
    ("mixer", re.compile(r"linear_attn|\bmamba\b")),
    ("indexer", re.compile(r"indexer")),
    ("router", re.compile(r"router|shared_expert_gate|score_correction|(^|\.)gate\$?$")),
    ("shared_experts", re.compile(r"shared_expert")),
    ("experts", re.compile(r"experts")),
    # Nemotron 3 Super's latent MoE (mixer.fc1_latent_proj, mixer.fc2_latent_proj).
    ("latent", re.compile(r"latent_proj")),
    ("attention", re.compile(r"attn|attention|[qkvo]_proj|q_[ab]_proj|kv_[ab]_proj|wq|wkv")),
    # Nemotron-H's Mamba2 projections (mixer.in_proj, mixer.out_proj), Mamba1's x_proj and
    # dt_proj: after attention, whose self_attn.out_proj (OPT) names attention.
    ("mixer", re.compile(r"(^|\.)(in_proj\w*|out_proj|x_proj|dt_proj)\b")),
    ("mlp", re.compile(r"mlp|feed_forward|gate_proj|up_proj|down_proj")),
)


# A decoder layer by index ("model.layers.3.mlp", "backbone.layers.3.mixer.in_proj"), and
# what follows it; nothing but globs and dots after it names the whole layer ("model.layers.3*",
# "model.layers.3.*"). ModelOpt writes "module_path*" for the whole tree of modules under
# module_path, which vLLM reads as module_path and module_path.* (ModelOptQuantConfigBase.
# apply_vllm_mapper, vllm/model_executor/layers/quantization/modelopt.py): "model.layers.1*" is
# layer 1, not layers 10 to 19.
_LAYER = re.compile(r"layers\.(\d+)(?=$|[.*])(.*)$")
# Nemotron-H holds each layer's one module (Mamba, attention, MLP or MoE) as its `mixer`.
_WHOLE_LAYER_MODULE = re.compile(r"^\.?mixer$")


def _name_class(name: str) -> str | None:
    """The module class a (lowercased) name names, by _CLASS_PATTERNS, or None."""
    if name in MODULE_CLASSES:  # a class by its own name (GPTQ's and targets' lists)
        return name
    return next((cls for cls, pattern in _CLASS_PATTERNS if pattern.search(name)), None)


def _unknown(raw: object, method: str, listed: str) -> ModelConfigError:
    return ModelConfigError(
        f"quantization_config ({method}): cannot tell which module {raw!r} in its "
        f"{listed} is; rooflens knows attention, mixer (Mamba, Gated DeltaNet: linear_attn, "
        "in_proj, out_proj), indexer, mlp, experts, shared_experts, router, latent MoE "
        "projections, embeddings, lm_head, norms, convolutions (conv1d, conv.conv) and "
        "vision modules"
    )


def module_classes(
    names: Iterable[str],
    method: str,
    num_layers: int | None = None,
    listed: str = "list of unquantized modules",
) -> tuple[str, ...]:
    """Module classes a list of module names or patterns (regexes after `re:`) covers, each
    class whole, as read without the model's layout (a name of one layer's module stands for
    its class; `read_quantization_config` with a `Layout` reads them layer by layer). A whole
    layer at or past `num_layers` is an MTP layer, outside the analysed decoder; a whole layer
    of the decoder needs the layout. `listed` names the list in errors."""
    found: list[str] = []
    for raw in names:
        name = str(raw).removeprefix("re:").lower()
        if _ALWAYS_16BIT.search(name):
            continue
        layer = _LAYER.search(name)
        whole = layer is not None and not layer.group(2).strip(".*")
        if whole and num_layers is not None and int(layer.group(1)) >= num_layers:  # type: ignore[union-attr]
            continue
        cls = None if whole else _name_class(name)
        if cls is None:
            raise _unknown(raw, method, listed)
        if cls not in found:
            found.append(cls)
    return tuple(found)


# Projections by the last part of their checkpoint name, within the class the name gives, as
# the rooflens operators that price them (transformers' names: Llama, Qwen, DeepSeek's MLA and
# indexer, Qwen3-Next's and Qwen3.5's Gated DeltaNet, Nemotron-H's Mamba2 and latent MoE). A
# name ending in a module (self_attn, mlp.experts, linear_attn) or in a part rooflens does not
# price apart covers every operator of its class.
_PROJECTION_OPERATORS: dict[str, dict[str, tuple[str, ...]]] = {
    "attention": {
        # Qwen3-Next's and Qwen3.5's q_proj holds the output gate too (attn_gate_proj).
        "q_proj": ("q_proj", "attn_gate_proj"),
        "k_proj": ("k_proj",),
        "v_proj": ("v_proj",),
        "o_proj": ("o_proj",),
        "q_a_proj": ("q_a_proj",),
        "q_b_proj": ("q_b_proj",),
        "kv_a_proj_with_mqa": ("kv_a_proj",),
        # MLA's up-projection runs inside the latent attention operator (absorbed).
        "kv_b_proj": ("latent_attention",),
    },
    "indexer": {
        "wq_b": ("indexer_q_proj",),
        "wk": ("indexer_k_proj",),
        "weights_proj": ("indexer_weights_proj",),
    },
    "mlp": {
        "gate_proj": ("gate_proj",),
        "up_proj": ("up_proj",),
        "down_proj": ("down_proj",),
        "gate_up_proj": ("gate_proj", "up_proj"),
    },
    "shared_experts": {
        "gate_proj": ("shared_gate_proj",),
        "up_proj": ("shared_up_proj",),
        "down_proj": ("shared_down_proj",),
        "gate_up_proj": ("shared_gate_proj", "shared_up_proj"),
    },
    "experts": {
        "gate_proj": ("expert_gate_proj",),
        "up_proj": ("expert_up_proj",),
        "down_proj": ("expert_down_proj",),
        "gate_up_proj": ("expert_gate_proj", "expert_up_proj"),
    },
    "router": {"gate": ("router",), "router": ("router",)},
    "latent": {"fc1_latent_proj": ("latent_in_proj",), "fc2_latent_proj": ("latent_out_proj",)},
    "mixer": {
        # Mamba2's one input projection (z, x, B, C, dt); Qwen3-Next's q, k, v, z
        # (in_proj_qkvz), Qwen3.5's q, k, v and z apart (in_proj_qkv, in_proj_z).
        "in_proj": ("mixer_in_proj",),
        "in_proj_qkvz": ("mixer_in_proj",),
        "in_proj_qkv": ("mixer_in_proj",),
        "in_proj_z": ("mixer_in_proj",),
        "in_proj_ba": ("mixer_ba_proj",),
        "in_proj_b": ("mixer_ba_proj",),
        "in_proj_a": ("mixer_ba_proj",),
        "out_proj": ("mixer_out_proj",),
        "x_proj": ("mixer_x_proj",),
        "dt_proj": ("mixer_dt_proj",),
    },
}


class Layout:
    """What a model holds, for telling what a module name of one layer covers: each
    quantizable block operator's class, the number of layers holding it, and whether all of
    them hold it alike (not so for Gemma 4's q_proj, one shape in window layers and another
    in global ones, which a count of layers cannot split); the classes of each layer where the
    config lays them out, the MTP layers after the decoder's, and whether the model files its
    recurrent mixer under self_attn (Kimi Linear's KDA, MiniMax's lightning attention)."""

    def __init__(
        self,
        num_layers: int,
        operators: Mapping[str, tuple[str, int, bool]],
        per_layer: tuple[frozenset[str], ...] | None = None,
        mtp_layers: int = 0,
        mixer_in_self_attn: bool = False,
        built_16bit: frozenset[str] = frozenset(),
        params: Mapping[str, int] | None = None,
        num_experts: int = 0,
    ) -> None:
        self.num_layers, self.operators, self.per_layer = num_layers, operators, per_layer
        self.mtp_layers, self.mixer_in_self_attn = mtp_layers, mixer_in_self_attn
        # Parameters of each operator in all its layers, and the routed experts per layer.
        self.params, self.num_experts = params or {}, num_experts
        # Operators rooflens keeps at 16 bits whatever the checkpoint (the router, DeepSeek's
        # indexer weights): naming them changes nothing.
        self.built_16bit = built_16bit

    def of_class(self, cls: str) -> list[str]:
        return [name for name, (kind, _, _) in self.operators.items() if kind == cls]

    def class_layers(self, cls: str) -> int:
        """The layers holding a class: as the layout lays them out, else as many as hold the
        most widely held of its operators."""
        if self.per_layer is not None:
            return sum(cls in classes for classes in self.per_layer)
        return max((self.operators[op][1] for op in self.of_class(cls)), default=0)


# The layers a name covers: every layer holding what it names (None), or these indices.
Covered = dict[str, set[int] | None]


def _cover(covered: Covered, keys: Iterable[str], index: int | None) -> None:
    for key in keys:
        if index is None:
            covered[key] = None
        elif covered.setdefault(key, set()) is not None:
            covered[key].add(index)  # type: ignore[union-attr]


def resolve_names(
    names: Iterable[str], method: str, layout: Layout, listed: str = "list of unquantized modules"
) -> tuple[tuple[str, ...], tuple[tuple[str, int, int], ...]]:
    """The module classes a list of module names covers whole, and (operator, layers named,
    layers holding it) for the operators it covers in only some layers, or whose class it
    does not cover whole. A name with a layer index covers that layer's modules (a whole
    layer, "model.layers.3*", every class the layout gives it), one without every layer; a
    projection names its operators (_PROJECTION_OPERATORS), a module every operator of its
    class, and an attention module the indexer filed under it too (DeepSeek's and GLM-5's
    self_attn.indexer, DeepSeek-V4's attn.indexer) and, where the model files its recurrent
    mixer under self_attn, the mixer."""
    classes: Covered = {}
    operators: Covered = {}
    # The classes in the order the list names them, as the checkpoint line shows them.
    order: dict[str, None] = {}
    for raw in names:
        name = str(raw).removeprefix("re:").lower()
        if _ALWAYS_16BIT.search(name):
            continue
        layer = _LAYER.search(name)
        index = None if layer is None else int(layer.group(1))
        rest = name if layer is None else layer.group(2)
        if index is not None and index >= layout.num_layers:
            if index < layout.num_layers + layout.mtp_layers:
                continue  # an MTP layer after the decoder's ("model.layers.61*" in DeepSeek-V3)
            plural = "s" if layout.mtp_layers > 1 else ""
            mtp = f" and {layout.mtp_layers} MTP layer{plural}" if layout.mtp_layers else ""
            raise ModelConfigError(
                f"quantization_config ({method}): {raw!r} in its {listed} names layer {index}, "
                f"past the model's {layout.num_layers} layers{mtp}"
            )
        if index is not None and (
            not rest.strip(".*") or _WHOLE_LAYER_MODULE.match(rest.strip("*"))
        ):
            if layout.per_layer is None:
                raise ModelConfigError(
                    f"quantization_config ({method}): {raw!r} in its {listed} names the whole "
                    f"layer {index}, but rooflens cannot tell which modules that layer holds "
                    "(it knows the layers of models whose layers are alike, of dense-first MoE "
                    "models by first_k_dense_replace, moe_layer_start_index or mlp_layer_types, "
                    "and of Nemotron-H by "
                    "hybrid_override_pattern)"
                )
            _cover(classes, sorted(layout.per_layer[index], key=MODULE_CLASSES.index), index)
            order.update(dict.fromkeys(sorted(layout.per_layer[index], key=MODULE_CLASSES.index)))
            continue
        cls = _name_class(rest)
        if cls is None:
            raise _unknown(raw, method, listed)
        order[cls] = None
        tail = re.sub(r"[*.]+$", "", rest).rsplit(".", 1)[-1]
        ops = _PROJECTION_OPERATORS.get(cls, {}).get(tail)
        if ops is not None and cls == "attention" and layout.mixer_in_self_attn:
            raise ModelConfigError(
                f"quantization_config ({method}): {raw!r} in its {listed} names one projection "
                "of a self_attn module, which in this model holds attention in some layers and "
                "its recurrent mixer in others; rooflens cannot tell which"
            )
        if ops is not None:
            _cover(operators, [op for op in ops if op in layout.operators], index)
            continue
        implied = {"attention": ["indexer"] + (["mixer"] if layout.mixer_in_self_attn else [])}
        _cover(classes, [cls, *implied.get(cls, [])], index)
        order.update(dict.fromkeys(c for c in implied.get(cls, []) if layout.of_class(c)))
    # A class covered in some layers covers its operators in those layers: each operator
    # must be held by every layer of its class, else a count of layers cannot say which.
    for cls, layers in classes.items():
        ops = layout.of_class(cls)
        if not ops:
            continue
        held = layout.class_layers(cls)
        if layers is not None and layout.per_layer is not None:
            layers = {i for i in layers if cls in layout.per_layer[i]}
        if layers is not None and len(layers) > held:
            raise _too_many(method, listed, cls, layers, held)
        for op in ops:
            _, op_held, alike = layout.operators[op]
            if layers is None or len(layers) == held:
                _cover(operators, [op], None)
            elif alike and op_held == held:
                for i in layers:
                    _cover(operators, [op], i)
            else:
                raise ModelConfigError(
                    f"quantization_config ({method}): its {listed} names the {cls} modules of "
                    f"{len(layers)} of the {held} layers holding them, and {op} is held by some "
                    "of them only, or in different shapes; rooflens cannot tell which are meant"
                )
    named: dict[str, int] = {}
    for op, layers in operators.items():
        _, held, alike = layout.operators[op]
        if layers is not None and layout.per_layer is not None:
            cls = layout.operators[op][0]
            layers = {i for i in layers if cls in layout.per_layer[i]}
        count = held if layers is None else len(layers)
        if count > held:
            raise _too_many(method, listed, op, layers, held)  # type: ignore[arg-type]
        if count < held and not alike:
            raise ModelConfigError(
                f"quantization_config ({method}): its {listed} names {op} in {count} of the "
                f"{held} layers holding it, which hold it in different shapes; rooflens cannot "
                "tell which are meant"
            )
        if count:
            named[op] = count
    order.update(dict.fromkeys(layout.operators[op][0] for op in operators))
    whole = tuple(
        cls
        for cls in order
        if layout.of_class(cls)
        and all(named.get(op) == layout.operators[op][1] for op in layout.of_class(cls))
    )
    partial = tuple(
        (op, count, layout.operators[op][1])
        for op, count in named.items()
        if layout.operators[op][0] not in whole and op not in layout.built_16bit
    )
    return whole, partial


def _too_many(method: str, listed: str, what: str, layers: set[int], held: int) -> Exception:
    shown = ", ".join(map(str, sorted(layers)[:8])) + (", ..." if len(layers) > 8 else "")
    return ModelConfigError(
        f"quantization_config ({method}): its {listed} names {what} in {len(layers)} layers "
        f"({shown}); the model holds it in {held}"
    )


def model_layout(spec: ModelSpec, config: Mapping[str, Any]) -> Layout:
    """The layout of `spec`, read from `config` (its language model's part) where the layers'
    kinds are laid out: the quantizable operators of its graph, and each layer's classes."""
    operators: dict[str, tuple[str, int, bool]] = {}
    built_16bit = set()
    params: dict[str, int] = {}
    graph = build_graph(spec, AnalysisOptions())
    for op in graph.operators:
        cls = module_class(op.name)
        if op.scope != "block" or cls is None or not hasattr(op, "quantized"):
            continue
        if not op.quantized:
            built_16bit.add(op.name)
        params[op.name] = params.get(op.name, 0) + round(graph.count(op) * op.params())
        layers = op.layers or spec.all_layers
        if op.name in operators:
            _, held, _ = operators[op.name]
            operators[op.name] = (cls, held + layers, False)
        else:
            operators[op.name] = (cls, layers, True)
    mixer = spec.mixer.kind if spec.mixer is not None else None
    return Layout(
        spec.num_layers,
        operators,
        _layer_classes(spec, config),
        spec.mtp_layers,
        mixer_in_self_attn=mixer in ("kda", "lightning"),
        built_16bit=frozenset(built_16bit),
        params=params,
        num_experts=spec.num_experts,
    )


def _layer_classes(spec: ModelSpec, config: Mapping[str, Any]) -> tuple[frozenset[str], ...] | None:
    """The module classes of each decoder layer, where the config lays them out: every layer
    alike, dense layers first (first_k_dense_replace, as DeepSeek, Kimi and GLM place them,
    or ERNIE 4.5's moe_layer_start_index) or
    as mlp_layer_types lists them, and Nemotron-H's hybrid_override_pattern; else None."""
    n = spec.num_layers
    attention: list[set[str]] = [{"attention"} for _ in range(n)]
    if spec.index_heads:
        # GLM-5's "shared" indexer layers reuse the previous layer's top-k and hold none.
        kinds = config.get("indexer_types")
        listed = isinstance(kinds, list) and len(kinds) == n
        if spec.index_layers in (None, n) and not (spec.compressed_attention or spec.sparse_layers):
            own = [True] * n
        elif listed and kinds.count("full") == spec.index_layers:  # type: ignore[union-attr]
            own = [kind == "full" for kind in kinds]  # type: ignore[union-attr]
        else:
            return None  # the indexer is in some layers, which rooflens cannot tell
        for classes, has in zip(attention, own, strict=True):
            classes |= {"indexer"} if has else set()
    moe = {"experts", "router"} | {
        cls
        for cls, held in (
            ("shared_experts", spec.shared_intermediate_size),
            ("latent", spec.expert_latent_size),
        )
        if held
    }
    if spec.model_type == "nemotron_h":
        pattern = config.get("hybrid_override_pattern")
        symbols = {"M": {"mixer"}, "*": {"attention"}, "-": {"mlp"}, "E": moe}
        if not isinstance(pattern, str) or len(pattern) != n or set(pattern) - set(symbols):
            return None
        return tuple(frozenset(symbols[s]) for s in pattern)
    if spec.is_hybrid:
        return None
    if not spec.is_moe:
        return tuple(frozenset(a | {"mlp"}) for a in attention)
    if spec.moe_beside_mlp:
        return tuple(frozenset(a | moe | {"mlp"}) for a in attention)
    dense: list[bool] | None = None
    kinds = config.get("mlp_layer_types")
    if spec.dense_layers == 0:
        dense = [False] * n
    elif isinstance(kinds, list) and len(kinds) == n and set(kinds) <= {"dense", "sparse"}:
        dense = [kind == "dense" for kind in kinds]
    elif spec.dense_layers in (
        config.get("first_k_dense_replace"),
        # ERNIE 4.5: MoE from this layer to the last (its reader refuses any other layout).
        config.get("moe_layer_start_index") if spec.model_type == "ernie4_5_moe" else None,
    ):
        dense = [i < spec.dense_layers for i in range(n)]
    if dense is None or sum(dense) != spec.dense_layers:
        return None
    layers = zip(attention, dense, strict=True)
    return tuple(frozenset(a | ({"mlp"} if d else moe)) for a, d in layers)


def _size(method: str, key: str, value: object, accepted: str = "a positive integer") -> int:
    """A size of a quantization_config, as written: a JSON integer (not a float, text or
    boolean, which int() would truncate or read), else a config error naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelConfigError(
            f"quantization_config ({method}): {key}={value!r} is invalid: expected {accepted}"
        )
    return value


def _block(method: str, key: str, value: object) -> int:
    """Weights per scale of a 2-D block ([rows, columns] of positive integers)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ModelConfigError(
            f"quantization_config ({method}): {key}={value!r} is invalid: expected [rows, "
            "columns] of positive integers, e.g. [128, 128]"
        )
    rows, cols = (_size(method, key, v, "[rows, columns] of positive integers") for v in value)
    return rows * cols


def _names(method: str, key: str, value: object) -> list[str]:
    """A list of module names or patterns (modules_to_not_convert, ignore, targets): a JSON
    array of strings, empty where absent; a string alone was read letter by letter."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ModelConfigError(
            f"quantization_config ({method}): {key}={value!r} is invalid: expected a JSON "
            "array of module names"
        )
    return value


def _section(method: str, key: str, value: object, accepted: str) -> Mapping[str, Any]:
    """A nested object of a quantization_config (a scheme, a recipe), empty where absent."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ModelConfigError(
            f"quantization_config ({method}): {key}={value!r} is invalid: expected {accepted}"
        )
    return value


# What a method's reader returns: the stored Quantization's fields, the names of the modules
# left at 16 bits, and where the config gives each field (its key within quantization_config,
# or the default that stands for an absent one), which errors name in rooflens's field's place.
Read = tuple[dict[str, Any], list[str], dict[str, str]]

# compressed-tensors' QuantizationArgs, as its schemes and kv_cache_scheme are written.
_ARGS = "an object with num_bits (compressed-tensors' QuantizationArgs) or null"


def _fp8(q: Mapping[str, Any]) -> Read:
    # transformers' FineGrainedFP8Config: 128x128 blocks unless weight_block_size says
    # otherwise (null: one scale per tensor); activations quantized too ("dynamic"/"static").
    block = q.get("weight_block_size", [128, 128])
    scale: Any = "tensor" if block is None else _block("fp8", "weight_block_size", block)
    fields = {"w_bits": 8, "a_bits": 8, "w_format": "fp", "w_scale": scale}
    if q.get("activation_scheme") == "static":
        fields["a_scale"] = "static"
    skipped = _names("fp8", "modules_to_not_convert", q.get("modules_to_not_convert"))
    skipped = skipped or _names("fp8", "ignored_layers", q.get("ignored_layers"))
    return fields, skipped, {"w_scale": "weight_block_size"}


def _mxfp4(q: Mapping[str, Any]) -> Read:
    # gpt-oss: MXFP4 weights, bf16 activations (the reference kernels upcast on Hopper).
    skipped = _names("mxfp4", "modules_to_not_convert", q.get("modules_to_not_convert"))
    return {"w_bits": 4, "w_format": "mxfp4"}, skipped, {}


def _mxfp4_experts_only(
    unquantized: tuple[str, ...],
    partial: tuple[tuple[str, int, int], ...],
    layout: Layout | None,
) -> tuple[tuple[str, ...], tuple[tuple[str, int, int], ...]]:
    """MXFP4 stores the routed experts alone, whatever modules_to_not_convert lists (a list may
    still leave experts at 16 bits): transformers' replace_with_mxfp4_linear swaps only the
    experts (integrations/mxfp4.py), and vLLM's Mxfp4Config gives every linear layer its
    UnquantizedLinearMethod. Without the list every class had read as MXFP4 (gpt-oss-120b's
    q_proj 6.28 MB where its checkpoint holds 23.6 MB)."""
    others = tuple(c for c in MODULE_CLASSES if c != "experts" and c not in unquantized)
    if layout is not None:
        partial = tuple(p for p in partial if layout.operators[p[0]][0] == "experts")
    return (*unquantized, *others), partial


# quant_method "mxfp8" (MiniMax-M3-MXFP8): FP8 E4M3 weights with one E8M0 scale per 32 along
# the input dimension, activations quantized to MXFP8 as each GEMM runs. The keys its readers
# give a meaning (transformers' FineGrainedFP8Config, which its AUTO_QUANTIZATION_CONFIG_MAPPING
# maps "mxfp8" to; vLLM's ModelOptMxFp8Config.from_config; SGLang's Fp8Config with use_mxfp8),
# each with the values that store MXFP8 and nothing else; null or absent reads as MXFP8's own.
# Any other key is refused: a key no reader knows (an "moe_quant_algo" NVFP4 beside it) could
# store some modules otherwise.
# Activations are read as 8-bit, computed at the FP8 peak, as Blackwell runs them: vLLM's first
# MXFP8 linear kernel quantizes each GEMM's input to MXFP8 (FlashInferCutlassMxfp8LinearKernel,
# vllm/model_executor/kernels/linear/mxfp8/flashinfer.py, SM100+), its experts run FlashInfer's
# TRT-LLM MXFP8 MoE, and SGLang serves MXFP8 from SM100 only (Fp8Config.get_min_capability:
# 100 with use_mxfp8). Hopper has FP8 tensor cores but no MX scaling: vLLM falls through to
# Marlin's W8A16 there (_POSSIBLE_MXFP8_KERNELS in vllm/model_executor/kernels/linear/
# __init__.py: BF16 activations, weights dequantized in the main loop), which a_bits=16 prices;
# the checkpoint as stored, W8A8 at the FP8 peak, stays the bound.
_MXFP8_VALUES: dict[str, tuple[object, ...]] = {
    # Every reader refuses static activation scales for MXFP8 (vLLM's Mxfp8Config, SGLang's
    # block-wise Fp8Config): MX scales are computed per block of 32 as the activations come.
    "activation_scheme": ("dynamic",),
    # [1, 32]: one scale per 32 weights of a row (SGLang's Fp8Config: "MXFP8 requires
    # weight_block_size=[1, 32]").
    "weight_block_size": ([1, 32],),
    "scale_fmt": ("ue8m0",),
    "fmt": ("e4m3", "float8_e4m3fn"),
    # transformers' loading flags: dequantizing on load, or converting embeddings too, is
    # not the checkpoint the engines serve.
    "dequantize": (False,),
    "modules_to_convert": ([],),
    "expert_dtype": ("fp8",),
}
_MXFP8_NAMES = ("ignored_layers", "modules_to_not_convert")
_MXFP8_KEYS = ("quant_method", *_MXFP8_VALUES, *_MXFP8_NAMES, "kv_cache_quant_algo")


def _same_json(value: object, expected: object) -> bool:
    """`value` is `expected` as JSON writes it, element by element: [true, 32] and [1.0, 32]
    compare equal to [1, 32] in Python."""
    if isinstance(expected, list):
        return (
            isinstance(value, list)
            and len(value) == len(expected)
            and all(_same_json(v, e) for v, e in zip(value, expected, strict=True))
        )
    return type(value) is type(expected) and value == expected


def _mxfp8(q: Mapping[str, Any]) -> Read:
    method = "mxfp8"
    for key, value in q.items():
        if key not in _MXFP8_KEYS:
            raise ModelConfigError(
                f"quantization_config ({method}): {key}={value!r} is not supported; rooflens "
                f"reads {', '.join(_MXFP8_KEYS)}"
            )
        accepted = _MXFP8_VALUES.get(key)
        if accepted is None or value is None:
            continue
        # A list read as written ([1, 32], not (1, 32) or "1,32"); text as transformers
        # lowercases activation_scheme.
        given = value.lower() if isinstance(value, str) else value
        if not any(_same_json(given, a) for a in accepted):
            shown = " or ".join(repr(a) for a in accepted)
            raise ModelConfigError(
                f"quantization_config ({method}): {key}={value!r} is invalid: expected {shown} "
                "(MXFP8: FP8 E4M3 weights, an E8M0 scale per 32, activations quantized as "
                "they come) or absent"
            )
    # vLLM reads ignored_layers, else modules_to_not_convert; transformers the other way
    # round: two different lists would be read differently by each.
    ignored, unconverted = (_names(method, key, q.get(key)) for key in _MXFP8_NAMES)
    if ignored and unconverted and sorted(ignored) != sorted(unconverted):
        raise ModelConfigError(
            f"quantization_config ({method}): ignored_layers={ignored!r} and "
            f"modules_to_not_convert={unconverted!r} differ; vLLM reads the first, transformers "
            "the second: give one list"
        )
    kv = _modelopt_kv(q.get("kv_cache_quant_algo"), method=method)
    fields = {"w_bits": 8, "a_bits": 8, "w_format": "mxfp8"} | kv
    return fields, ignored or unconverted, {"kv_bits": "kv_cache_quant_algo"}


def _int_weight_only(q: Mapping[str, Any]) -> Read:
    # AWQ / GPTQ: `bits`-bit integer weights in groups of `group_size` (-1: per channel).
    method = str(q.get("quant_method"))
    # AutoAWQ spells them w_bit and q_group_size. transformers' AwqConfig defaults bits to 4
    # and both classes group_size to 128; GPTQConfig has no default for bits.
    bits_key = next((k for k in ("bits", "w_bit") if q.get(k) is not None), None)
    if bits_key is None and method == "gptq":
        raise ModelConfigError(
            "quantization_config (gptq) lacks 'bits' (transformers' GPTQConfig has no default)"
        )
    group_key = next((k for k in ("group_size", "q_group_size") if k in q), None)
    bits = _size(method, bits_key or "bits", q[bits_key] if bits_key else 4)
    group = q[group_key] if group_key else 128
    per_channel = group is None or (group == -1 and not isinstance(group, bool))
    accepted = "a positive integer, or -1 for one scale per channel"
    fields = {
        "w_bits": bits,
        "group_size": None if per_channel else _size(method, "group_size", group, accepted),
    }
    # GPTQ's format stores zero points whatever `sym` says; AWQ's unless zero_point is false.
    fields["w_zero_point"] = q.get("zero_point", True) is not False
    sources = {
        "w_bits": bits_key or f"bits ({method} default 4)",
        "group_size": group_key or f"group_size ({method} default 128)",
    }
    skipped = _names(method, "modules_to_not_convert", q.get("modules_to_not_convert"))
    return fields, skipped, sources


# One decoder layer's linears as transformers names them in Llama, Qwen and their MoE
# variants, by module class: GPTQModel's `dynamic` rules are regexes over such full names
# ("model.layers.3.mlp.down_proj"), transformers' modules_in_block_to_quantize lists them
# within a block. Two experts stand for all (a rule naming one expert covers part of a class).
_PROJECTIONS = ("gate_proj", "up_proj", "down_proj")
_BLOCK_MODULES: dict[str, tuple[str, ...]] = {
    "attention": tuple(f"self_attn.{p}_proj" for p in "qkvo"),
    "mlp": tuple(f"mlp.{p}" for p in _PROJECTIONS),
    "experts": tuple(f"mlp.experts.{e}.{p}" for e in (0, 1) for p in _PROJECTIONS),
    "shared_experts": tuple(f"mlp.shared_expert.{p}" for p in _PROJECTIONS),
    "router": ("mlp.gate",),
}
# What a dynamic rule may set: the widths rooflens stores, and GPTQ options that store nothing
# else (its format keeps zero points and g_idx whatever sym and desc_act say).
_DYNAMIC_KEYS = {"bits", "group_size", "sym", "desc_act"}


def _gptq_modules(
    q: Mapping[str, Any], base: Quantization, num_layers: int | None
) -> tuple[list[str], list[tuple[str, Quantization]], dict[str, str]]:
    """GPTQ's per-module settings: the classes left unquantized, the classes (and the head)
    stored at their own width, and where the config says so. transformers' GPTQConfig
    quantizes only `modules_in_block_to_quantize`; GPTQModel quantizes `lm_head` too where it
    says so and applies the first `dynamic` rule whose regex matches a module's full name
    ("-:" skips it, "+:" or no prefix overrides bits / group_size). A rule or list covering part
    of a class (some layers, some projections) is refused: rooflens stores a class at one
    width."""
    skipped: list[str] = []
    listed = q.get("modules_in_block_to_quantize")
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(part, list) for part in listed):
            raise ModelConfigError(
                "quantization_config (gptq): modules_in_block_to_quantize="
                f"{listed!r} is invalid: expected a JSON array of arrays of module names"
            )
        names = [n for part in listed for n in _names("gptq", "modules_in_block_to_quantize", part)]
        for cls, modules in _BLOCK_MODULES.items():
            named = [m for m in modules if m in names]
            if named and len(named) < len(modules):
                raise ModelConfigError(
                    f"quantization_config (gptq): modules_in_block_to_quantize names {named} "
                    f"of the {cls} modules {list(modules)}: rooflens quantizes a module class "
                    "whole or not at all"
                )
        quantized = module_classes(names, "gptq", listed="modules_in_block_to_quantize")
        skipped += [cls for cls in MODULE_CLASSES if cls not in quantized]
    head = q.get("lm_head", False)
    if not isinstance(head, bool):
        raise ModelConfigError(
            f"quantization_config (gptq): lm_head={head!r} is invalid: expected true or false"
        )
    rules = _section("gptq", "dynamic", q.get("dynamic"), "an object of regex: overrides")
    layers = range(num_layers or 1)
    outcomes: dict[str, set[str | None]] = {}
    for cls, modules in _BLOCK_MODULES.items():
        full = [f"model.layers.{i}.{m}" for i in layers for m in modules]
        outcomes[cls] = {_first_rule(rules, name) for name in full}
    if head:
        outcomes["lm_head"] = {_first_rule(rules, "lm_head")}
    matched = {rule for seen in outcomes.values() for rule in seen}
    for rule in rules:
        if rule not in matched and not _ALWAYS_16BIT.search(rule.lower()):
            raise ModelConfigError(
                f"quantization_config (gptq): cannot tell which modules dynamic rule {rule!r} "
                "covers; rooflens matches it against transformers' Llama/Qwen module names "
                "(model.layers.N.self_attn.q_proj, model.layers.N.mlp.down_proj, lm_head)"
            )
    modules: list[tuple[str, Quantization]] = [("lm_head", base)] if head else []
    sources: dict[str, str] = {}
    for cls, seen in outcomes.items():
        if len(seen) > 1:
            covering = sorted(repr(rule) for rule in seen if rule is not None)
            raise ModelConfigError(
                f"quantization_config (gptq): dynamic rule {', '.join(covering)} covers part "
                f"of the {cls} modules (some layers or projections): rooflens stores a module "
                "class at one width"
            )
        (rule,) = seen
        if rule is None:
            continue
        if rule.startswith("-:"):
            if cls == "lm_head":
                modules = []
            else:
                skipped.append(cls)
            continue
        own = _dynamic_override(rules[rule], rule, base)
        modules = [(kind, q) for kind, q in modules if kind != cls] + [(cls, own)]
        sources[f"{cls}.group_size"] = f"dynamic[{rule!r}].group_size"
    return skipped, [(cls, own) for cls, own in modules if cls not in skipped], sources


def _first_rule(rules: Mapping[str, Any], name: str) -> str | None:
    """The first `dynamic` rule whose regex matches `name` from its start (re.match), as
    GPTQModel's dynamic_get picks it."""
    for rule in rules:
        if not isinstance(rule, str):
            raise ModelConfigError(
                f"quantization_config (gptq): dynamic rule {rule!r} is invalid: expected a regex"
            )
        try:
            if re.match(rule.removeprefix("-:").removeprefix("+:"), name):
                return rule
        except re.error as exc:
            raise ModelConfigError(
                f"quantization_config (gptq): dynamic rule {rule!r} is invalid: {exc}"
            ) from None
    return None


def _dynamic_override(overrides: object, rule: str, base: Quantization) -> Quantization:
    """The storage a "+:" rule gives the modules it matches: bits and group_size over the
    config's own (an empty rule restates them)."""
    where = f"dynamic[{rule!r}]"
    fields = _section("gptq", where, overrides, "an object of bits / group_size")
    unknown = sorted(set(fields) - _DYNAMIC_KEYS)
    if unknown:
        raise ModelConfigError(
            f"quantization_config (gptq): {where} sets {unknown}; supported: "
            f"{sorted(_DYNAMIC_KEYS)}"
        )
    update: dict[str, Any] = {}
    if "bits" in fields:
        update["w_bits"] = _size("gptq", f"{where}.bits", fields["bits"])
    if "group_size" in fields:
        group = fields["group_size"]
        channel = group == -1 and not isinstance(group, bool)
        accepted = "a positive integer, or -1 for one scale per channel"
        update["group_size"] = (
            None if channel else _size("gptq", f"{where}.group_size", group, accepted)
        )
    try:
        return Quantization.model_validate(base.model_dump() | update)
    except ValidationError as exc:
        error = exc.errors()[0]
        words = type_words(error)
        raise ModelConfigError(
            f"quantization_config (gptq): {where}.bits={fields.get('bits')!r} is invalid: "
            + (f"expected {words}" if words else str(error["msg"]))
        ) from None


def _flag(method: str, q: Mapping[str, Any], key: str) -> bool:
    """A boolean of a quantization_config, false where absent; the text "false" was true."""
    value = q.get(key, False)
    if not isinstance(value, bool):
        raise ModelConfigError(
            f"quantization_config ({method}): {key}={value!r} is invalid: expected true or false"
        )
    return value


def _bitsandbytes(q: Mapping[str, Any]) -> Read:
    skip = _names("bitsandbytes", "llm_int8_skip_modules", q.get("llm_int8_skip_modules"))
    four, eight = _flag("bitsandbytes", q, "load_in_4bit"), _flag("bitsandbytes", q, "load_in_8bit")
    if four == eight:
        # transformers refuses both (BitsAndBytesConfig) and neither (an unknown quantization
        # type); neither was read as 8-bit.
        raise ModelConfigError(
            f"quantization_config (bitsandbytes): load_in_4bit={four} and load_in_8bit={eight} "
            "are invalid: expected exactly one of them true"
        )
    if four:
        kind = q.get("bnb_4bit_quant_type", "fp4")
        if kind not in ("fp4", "nf4"):
            raise ModelConfigError(
                f"quantization_config (bitsandbytes): bnb_4bit_quant_type={kind!r} is not "
                "supported; supported: fp4, nf4"
            )
        nf4 = {"w_bits": 4, "w_format": "nf4"} if kind == "nf4" else {"w_bits": 4}
        return nf4, skip, {}
    # LLM.int8(): int8 weights with one scale per output channel.
    return {"w_bits": 8}, skip, {}


# ModelOpt's KV-cache recipes (kv_cache_quant_algo, as TensorRT-LLM's QuantAlgo names them):
# the checkpoint's KV precision, the analysis's default kv_bits.
_MODELOPT_KV_BITS = {"FP8": 8, "INT8": 8, "NVFP4": 4}


def _modelopt_kv(
    raw: object, key: str = "kv_cache_quant_algo", method: str = "modelopt"
) -> dict[str, Any]:
    if raw is None or str(raw).upper() == "NONE":
        return {}
    bits = _MODELOPT_KV_BITS.get(str(raw).upper())
    if bits is None:
        raise ModelConfigError(
            f"quantization_config ({method}): {key}={raw!r} is not supported; "
            f"supported: {', '.join(_MODELOPT_KV_BITS)} or null"
        )
    return {"kv_bits": bits}


def _modelopt_kv_scheme(scheme: object) -> dict[str, Any]:
    """The KV recipe ModelOpt writes into config.json as `kv_cache_scheme`: compressed-tensors'
    object for FP8 ({"num_bits": 8, "type": "float"}), or the kv_cache_quant_algo's name
    itself, as ModelOpt 0.29 wrote FP8 ("FP8") and later versions write the other recipes
    (convert_hf_quant_config_format)."""
    if isinstance(scheme, str):
        return _modelopt_kv(scheme, "kv_cache_scheme")
    args = _section("modelopt", "kv_cache_scheme", scheme, f"{_ARGS}, or a KV recipe's name")
    bits = args.get("num_bits")
    return {} if bits is None else {"kv_bits": _size("modelopt", "kv_cache_scheme.num_bits", bits)}


# ModelOpt's weight recipes (quant_algo, as vLLM's modelopt.py QUANT_ALGOS names them), as
# rooflens stores them: per-tensor FP8 with calibrated activation scales (input_scale), NVFP4
# weights and activations (E4M3 scales per 16), W4A16_NVFP4, NVFP4 weights with 16-bit
# activations (vLLM's ModelOptNvFp4W4A16LinearMethod, Marlin for the experts), and MXFP8
# (ModelOpt's --qformat mxfp8, NVIDIA/Model-Optimizer#736: E8M0 scales per 32, activations
# quantized to MXFP8 at run time; vLLM's ModelOptMxFp8Config).
_MODELOPT_ALGOS: dict[str, dict[str, Any]] = {
    "FP8": {"w_bits": 8, "a_bits": 8, "w_format": "fp", "w_scale": "tensor", "a_scale": "static"},
    "NVFP4": {"w_bits": 4, "a_bits": 4, "w_format": "nvfp4"},
    "W4A16_NVFP4": {"w_bits": 4, "a_bits": 16, "w_format": "nvfp4"},
    "MXFP8": {"w_bits": 8, "a_bits": 8, "w_format": "mxfp8"},
}
# The group each block-scaled recipe stores its scales over (a recipe's group_size, where
# written, must be it).
_MODELOPT_GROUPS = {"NVFP4": 16, "W4A16_NVFP4": 16, "MXFP8": 32}


def _modelopt_group(algo: str, key: str, group: object) -> None:
    """A recipe's group_size, where written: the group its format scales (_MODELOPT_GROUPS)."""
    own = _MODELOPT_GROUPS.get(algo)
    if own is not None and group is not None and not _same_json(group, own):
        kind = "NVFP4" if "NVFP4" in algo else algo
        raise ModelConfigError(
            f"quantization_config (modelopt): {key}={group!r} is invalid: {kind} scales "
            f"groups of {own}"
        )


def _modelopt_recipe(q: Mapping[str, Any]) -> tuple[Mapping[str, Any], str, dict[str, Any]]:
    """The recipe (hf_quant_config.json nests it under "quantization"; config.json holds it
    flat), its quant_algo, and the KV cache's width it gives."""
    inner = _section("modelopt", "quantization", q.get("quantization", q), "an object")
    kv = _modelopt_kv(inner.get("kv_cache_quant_algo"))
    if not kv:
        # Newer ModelOpt exports write the KV recipe into config.json in compressed-tensors'
        # form (Gemma 4 NVFP4: {"num_bits": 8, "type": "float"}) instead of kv_cache_quant_algo.
        kv = _modelopt_kv_scheme(q.get("kv_cache_scheme"))
    return inner, str(inner.get("quant_algo", "")).upper(), kv


def _modelopt_skipped(q: Mapping[str, Any], inner: Mapping[str, Any]) -> list[str]:
    skip = _names("modelopt", "exclude_modules", inner.get("exclude_modules"))
    return skip or _names("modelopt", "ignore", q.get("ignore"))


def _modelopt(q: Mapping[str, Any]) -> Read:
    inner, algo, kv = _modelopt_recipe(q)
    skip = _modelopt_skipped(q, inner)
    sources = {"kv_bits": "kv_cache_scheme.num_bits"}
    if algo in ("", "NONE") and kv:  # a recipe that quantizes the KV cache only
        return kv, skip, sources
    if algo == "MXFP8":
        _modelopt_group(algo, "group_size", inner.get("group_size"))
    if algo in _MODELOPT_ALGOS:
        return _MODELOPT_ALGOS[algo] | kv, skip, sources
    raise ModelConfigError(
        f"quantization_config (modelopt): quant_algo={algo or None!r} is not supported; "
        f"supported: {', '.join(_MODELOPT_ALGOS)}, MIXED_PRECISION"
    )


def _modelopt_mixed(q: Mapping[str, Any], layout: Layout | None) -> CheckpointQuant:
    """ModelOpt's MIXED_PRECISION recipe: `quantized_layers` gives each listed module its own
    quant_algo and leaves every module it does not list unquantized, as vLLM's
    ModelOptMixedPrecisionConfig reads it ("Layer not in quantized_layers - leave
    unquantized"). Stored as the recipe covering the most parameters, the others apart by
    module class, or by operator where a class mixes them (Qwen3.5's Gated DeltaNet lists
    in_proj_qkv, in_proj_z and out_proj, not in_proj_a / in_proj_b)."""
    where = "quantization_config (modelopt)"
    if layout is None:
        raise ModelConfigError(
            f"{where}: quant_algo='MIXED_PRECISION' gives each module its own recipe; it is "
            "read with the model (spec_from_config), whose modules its names are"
        )
    inner, _, kv = _modelopt_recipe(q)
    listed = inner.get("quantized_layers", q.get("quantized_layers"))
    if not isinstance(listed, Mapping) or not listed:
        raise ModelConfigError(
            f"{where}: quant_algo='MIXED_PRECISION' needs quantized_layers, an object of "
            f"module name: {{quant_algo, group_size}}; got {listed!r}"
        )
    # The names each operator is listed under, by recipe, and in which layers; the experts
    # each layer lists one by one ("mixer.experts.17.up_proj").
    algos: dict[str, dict[str, set[int] | None]] = {}
    experts: dict[tuple[str, int | None], set[int]] = {}
    head: str | None = None
    for name, info in listed.items():
        key = f"quantized_layers[{name!r}]"
        info = _section("modelopt", key, info, "an object with quant_algo")
        algo = str(info.get("quant_algo")).upper()
        if algo not in _MODELOPT_ALGOS:
            raise ModelConfigError(
                f"{where}: {key}.quant_algo={info.get('quant_algo')!r} is not supported; "
                f"supported: {', '.join(_MODELOPT_ALGOS)}"
            )
        _modelopt_group(algo, f"{key}.group_size", info.get("group_size"))
        lowered = str(name).lower()
        if re.search(r"(^|\.)lm_head$", lowered):
            head = algo
            continue
        if re.search(r"\bmtp\b", lowered):
            continue  # the MTP layers, outside the analysed decoder
        for op, index, expert in _listed_operators(name, layout):
            _cover(algos.setdefault(op, {}), [algo], index)
            if expert is not None:
                experts.setdefault((op, index), set()).add(expert)
    for (op, index), seen in experts.items():
        if len(seen) != layout.num_experts:
            raise ModelConfigError(
                f"{where}: quantized_layers lists {len(seen)} of the {layout.num_experts} "
                f"experts' {op} in layer {index}; rooflens stores the experts of a layer alike"
            )
    skipped = _modelopt_skipped(q, inner)
    unlisted_classes, excluded = resolve_names(skipped, "modelopt", layout) if skipped else ((), ())
    excluded_ops = {op for op, _, _ in excluded} | {
        op for cls in unlisted_classes for op in layout.of_class(cls)
    }
    storage: dict[str, str | None] = {}
    for op, (cls, held, _) in layout.operators.items():
        recipes = algos.get(op, {})
        if len(recipes) > 1:
            raise ModelConfigError(
                f"{where}: quantized_layers gives {op} ({cls}) the recipes {sorted(recipes)}; "
                "rooflens stores an operator at one width in every layer"
            )
        if recipes and op in excluded_ops:
            raise ModelConfigError(
                f"{where}: quantized_layers lists {op} ({cls}), which its exclude list leaves "
                "unquantized"
            )
        (algo, layers), *_ = recipes.items() if recipes else ((None, None),)
        if algo is not None and layers is not None and layout.per_layer is not None:
            layers = {i for i in layers if cls in layout.per_layer[i]}
        if algo is not None and layers is not None and len(layers) != held:
            raise ModelConfigError(
                f"{where}: quantized_layers lists {op} ({cls}) as {algo} in {len(layers)} of "
                f"the {held} layers holding it; rooflens stores an operator at one width in "
                "every layer"
            )
        storage[op] = algo
    weights: dict[str | None, int] = {}
    for op, algo in storage.items():
        if op not in layout.built_16bit:
            weights[algo] = weights.get(algo, 0) + layout.params[op]
    base = max((a for a in weights if a is not None), key=weights.__getitem__, default=None)
    stored = {a: Quantization(**(_MODELOPT_ALGOS[a] | kv)) for a in _MODELOPT_ALGOS}
    modules: list[tuple[str, Quantization]] = []
    unquantized: list[str] = []
    partial: list[tuple[str, int, int]] = []
    for cls in MODULE_CLASSES:
        ops = [op for op in layout.of_class(cls) if op not in layout.built_16bit]
        kinds = {storage[op] for op in ops}
        if not ops or kinds == {base}:
            continue
        if kinds == {None}:
            unquantized.append(cls)
        elif len(kinds) == 1:
            modules.append((cls, stored[kinds.pop()]))  # type: ignore[index]
        else:
            for op in ops:
                if storage[op] is None:
                    partial.append((op, layout.operators[op][1], layout.operators[op][1]))
                elif storage[op] != base:
                    modules.append((op, stored[storage[op]]))  # type: ignore[index]
    if head is not None:
        modules.append(("lm_head", stored[head]))
    return CheckpointQuant(
        method="modelopt",
        quantization=stored[base] if base is not None else Quantization(**kv),
        unquantized=tuple(unquantized),  # type: ignore[arg-type]
        modules=tuple(modules),  # type: ignore[arg-type]
        partial=tuple(partial),
        sources=(("kv_bits", "kv_cache_scheme.num_bits"),),
    )


def _listed_operators(name: str, layout: Layout) -> list[tuple[str, int | None, int | None]]:
    """The operators a module name of `quantized_layers` names, each with its layer index
    and, for one expert's projection ("experts.17.up_proj"), that expert's index."""
    lowered = name.lower()
    layer = _LAYER.search(lowered)
    index = None if layer is None else int(layer.group(1))
    rest = lowered if layer is None else layer.group(2)
    unknown = ModelConfigError(
        f"quantization_config (modelopt): cannot tell which module {name!r} in its "
        "quantized_layers is; rooflens knows the block's projections (q_proj, in_proj_qkv, "
        "experts.E.up_proj, ...) and their modules, and lm_head"
    )
    if _ALWAYS_16BIT.search(lowered) or not rest.strip(".*"):
        raise unknown  # an embedding, a norm, a whole layer: not one linear module
    if index is not None and index >= layout.num_layers:
        return []  # an MTP layer after the decoder's
    cls = _name_class(rest)
    if cls is None:
        raise unknown
    tail = rest.rsplit(".", 1)[-1]
    ops = _PROJECTION_OPERATORS.get(cls, {}).get(tail) or tuple(layout.of_class(cls))
    expert = re.search(r"experts\.(\d+)\.", rest)
    number = int(expert.group(1)) if expert and cls == "experts" else None
    return [(op, index, number) for op in ops if op in layout.operators]


def _compressed_tensors(q: Mapping[str, Any]) -> Read:
    groups = q.get("config_groups") or {}
    if not groups:
        raise ModelConfigError("quantization_config (compressed-tensors) lacks 'config_groups'")
    method = "compressed-tensors"
    if not isinstance(groups, Mapping) or not all(isinstance(g, Mapping) for g in groups.values()):
        raise ModelConfigError(
            f"quantization_config ({method}): config_groups={groups!r} is invalid: expected "
            "an object of named groups, each an object"
        )
    weights = [g.get("weights") for g in groups.values()]
    if not all(isinstance(w, Mapping) for w in weights):
        # A group without weights would quantize activations only, which rooflens does not
        # price; reading it as 8-bit weights would be a guess.
        raise ModelConfigError(
            f"quantization_config ({method}): config_groups' weights={weights!r} is invalid: "
            "expected each group's weight scheme (an object with num_bits)"
        )
    if any(w != weights[0] for w in weights):
        raise ModelConfigError(
            "quantization_config (compressed-tensors): config groups with different weight "
            "schemes are not supported; rooflens prices one scheme for all linears"
        )
    w = weights[0]
    bits, kind = _size(method, "weights.num_bits", w.get("num_bits", 8)), w.get("type", "int")
    strategy, group = w.get("strategy", "tensor"), w.get("group_size")
    # Read as text: a number had read as integer weights (type) or a scale per tensor
    # (strategy).
    if kind not in ("int", "float"):
        raise ModelConfigError(
            f"quantization_config ({method}): weights.type={kind!r} is invalid: expected "
            "'int' or 'float'"
        )
    if not isinstance(strategy, str):
        raise ModelConfigError(
            f"quantization_config ({method}): weights.strategy={strategy!r} is invalid: "
            "expected text (tensor, channel, group, block, ...)"
        )
    if kind == "float" and bits not in (4, 8):
        raise ModelConfigError(
            f"quantization_config ({method}): weights.num_bits={bits} is invalid for float "
            "weights: expected 8 (FP8) or 4 (FP4)"
        )
    name, first = next(iter(groups.items()))
    acts = first.get("input_activations")
    acts = _section(method, f"config_groups.{name}.input_activations", acts, _ARGS)
    a_bits = _size(method, "input_activations.num_bits", acts.get("num_bits", 16))
    dynamic = acts.get("dynamic")
    # compressed-tensors' DynamicType: true, false or "local"; any other value had read as
    # dynamic scales.
    if dynamic is not None and not isinstance(dynamic, bool) and dynamic != "local":
        raise ModelConfigError(
            f"quantization_config ({method}): input_activations.dynamic={dynamic!r} is "
            "invalid: expected true, false or 'local'"
        )
    fields: dict[str, Any] = {"w_bits": bits, "a_bits": a_bits}
    if fields["a_bits"] == 8 and acts.get("dynamic") is False:
        fields["a_scale"] = "static"
    kv_scheme = _section(method, "kv_cache_scheme", q.get("kv_cache_scheme"), _ARGS)
    if kv_scheme.get("num_bits") is not None:
        fields["kv_bits"] = _size(method, "kv_cache_scheme.num_bits", kv_scheme["num_bits"])
    if _compressed_mx(q, groups, w, "mxfp8", 8):
        _check_compressed_mxfp8(w, acts)
        fields["w_format"] = "mxfp8"
    elif kind == "float" and bits == 4 and group == 16:
        fields["w_format"] = "nvfp4"  # NVFP4: 16-element groups with an FP8 scale
    elif kind == "float" and bits == 4 and group == 32 and _compressed_mx(q, groups, w, "mxfp4", 4):
        fields["w_format"] = "mxfp4"  # MXFP4: 32-element groups with an E8M0 scale (Kimi K3)
    elif kind == "float":
        fields["w_format"] = "fp"
        if strategy == "block":
            structure = w.get("block_structure") or [128, 128]
            fields["w_scale"] = _block(method, "weights.block_structure", structure)
        elif strategy in ("tensor", "channel"):
            fields["w_scale"] = strategy
        elif strategy == "group":
            fields["w_scale"] = _size(method, "weights.group_size", group)
    else:
        grouped = strategy == "group" and group
        fields["group_size"] = _size(method, "weights.group_size", group) if grouped else None
        # compressed-tensors saves a zero point only for asymmetric schemes (its
        # QuantizationArgs' symmetric defaults to true).
        fields["w_zero_point"] = w.get("symmetric", True) is False
    skipped = _names(method, "ignore", q.get("ignore"))
    # Targets other than every Linear (Kimi K2's ["Linear"] beside its ignore list) quantize
    # only the modules they match: the block's other classes stay at 16 bits.
    targets = [
        t
        for name, g in groups.items()
        for t in (_names(method, f"config_groups.{name}.targets", g.get("targets")) or ["Linear"])
    ]
    if "Linear" not in targets:
        targeted = module_classes(targets, method, listed="config_groups' targets")
        skipped += [cls for cls in MODULE_CLASSES if cls not in targeted]
    sources = {
        "w_bits": "weights.num_bits",
        "a_bits": "input_activations.num_bits",
        "kv_bits": "kv_cache_scheme.num_bits",
        "group_size": "weights.group_size",
        "w_scale": "weights.group_size" if strategy == "group" else "weights.block_structure",
    }
    return fields, skipped, sources


def _compressed_mx(
    q: Mapping[str, Any], groups: Mapping[str, Any], w: Mapping[str, Any], name: str, bits: int
) -> bool:
    """Whether compressed-tensors stores an MX format (`name`, mxfp8 or mxfp4, of `bits`-bit
    floats): its format says so ("mxfp8-quantized", "mxfp4-pack-quantized": the config's or a
    group's own, as llm-compressor and AutoRound write it), or its weights are `bits`-bit
    floats in groups of 32 with one-byte (E8M0) scales, as vLLM's CompressedTensorsConfig
    tells MX schemes apart (scale_dtype torch.uint8)."""
    formats = {"format": q.get("format")}
    formats |= {f"config_groups.{group}.format": g.get("format") for group, g in groups.items()}
    texts = {"weights.scale_dtype": w.get("scale_dtype"), **formats}
    for key, value in texts.items():
        # A number or a list had passed as "not MX": FP8 with a 32-bit scale per group.
        if value is not None and not isinstance(value, str):
            raise ModelConfigError(
                f"quantization_config (compressed-tensors): {key}={value!r} is invalid: "
                "expected text"
            )
    if any(name in f for f in formats.values() if f is not None):
        return True
    scale = w.get("scale_dtype") or ""
    e8m0 = "uint8" in scale or "e8m0" in scale
    shape = (w.get("type"), w.get("num_bits"), w.get("strategy"), w.get("group_size"))
    return e8m0 and shape == ("float", bits, "group", 32)


def _check_compressed_mxfp8(w: Mapping[str, Any], acts: Mapping[str, Any]) -> None:
    """An MXFP8 scheme as MX stores it: symmetric 8-bit floats, one scale per group of 32
    (vLLM's CompressedTensorsW8A8Mxfp8), activations, where quantized, per group as they
    come; anything else is not MXFP8 and is refused, naming the field."""
    method = "compressed-tensors"
    expected = {"type": "float", "num_bits": 8, "strategy": "group", "group_size": 32}
    for key, value in expected.items():
        if not _same_json(w.get(key), value):
            raise ModelConfigError(
                f"quantization_config ({method}): weights.{key}={w.get(key)!r} is invalid "
                f"for MXFP8: expected {value!r} (FP8 E4M3 values, an E8M0 scale per 32)"
            )
    if w.get("symmetric", True) is not True:
        raise ModelConfigError(
            f"quantization_config ({method}): weights.symmetric={w.get('symmetric')!r} is "
            "invalid for MXFP8: expected true (MX stores scales, no zero points)"
        )
    if acts.get("num_bits") == 8 and acts.get("dynamic") is False:
        raise ModelConfigError(
            f"quantization_config ({method}): input_activations.dynamic=False is invalid for "
            "MXFP8: expected true (MX scales activations per 32 as they come)"
        )


QUANT_METHODS: dict[str, Callable[[Mapping[str, Any]], Read]] = {
    "fp8": _fp8,
    "mxfp4": _mxfp4,
    "mxfp8": _mxfp8,
    "awq": _int_weight_only,
    "gptq": _int_weight_only,
    "bitsandbytes": _bitsandbytes,
    "modelopt": _modelopt,
    "compressed-tensors": _compressed_tensors,
}


def read_quantization_config(
    raw: object, num_layers: int | None = None, layout: Layout | None = None
) -> CheckpointQuant | None:
    """A config.json's `quantization_config` (None when absent). With the model's `layout`
    (spec_from_config gives it), a name of one layer's module covers that layer's operators
    (CheckpointQuant.partial where that is not all of them); without it, as read alone, its
    whole class, and `num_layers`, the decoder's layer count, tells MTP layers in the lists of
    unquantized modules from decoder layers."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ModelConfigError(f"quantization_config={raw!r} is invalid: expected a JSON object")
    method = raw.get("quant_method")
    reader = QUANT_METHODS.get(str(method))
    if reader is None:
        raise ModelConfigError(
            f"quantization_config: quant_method={method!r} is not supported; supported: "
            f"{', '.join(QUANT_METHODS)}"
        )
    if layout is not None:
        num_layers = layout.num_layers
    if method == "modelopt" and _modelopt_recipe(raw)[1] == "MIXED_PRECISION":
        return _modelopt_mixed(raw, layout)
    fields, skipped, sources = reader(raw)
    try:
        quant = Quantization.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        words = type_words(error)  # pydantic's "Input should be 32, 16 ..." in our words
        message = f"expected {words}" if words else error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule across fields names them in its message
            raise ModelConfigError(f"quantization_config ({method}): {message}") from None
        name = str(error["loc"][0])
        # Named by the config's key where the reader knows it (AWQ's bits=5, not w_bits).
        key = sources.get(name, f"{name} as read")
        raise ModelConfigError(
            f"quantization_config ({method}): {key}={fields.get(name)!r} is invalid: {message}"
        ) from None
    modules: list[tuple[str, Quantization]] = []
    if method == "gptq":
        classes, modules, more = _gptq_modules(raw, quant, num_layers)
        skipped, sources = skipped + classes, sources | more
    partial: tuple[tuple[str, int, int], ...] = ()
    if layout is None:
        unquantized = module_classes(skipped, str(method), num_layers)
    else:
        unquantized, partial = resolve_names(skipped, str(method), layout)
    if method == "mxfp4":
        unquantized, partial = _mxfp4_experts_only(unquantized, partial, layout)
    return CheckpointQuant(
        method=str(method),
        quantization=quant,
        unquantized=unquantized,  # type: ignore[arg-type]
        modules=tuple(modules),  # type: ignore[arg-type]
        partial=partial,
        sources=tuple(sorted(sources.items())),
    )
