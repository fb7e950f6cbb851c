"""How rooflens names and writes what it writes, shared by the command line and the views: the
files a figure is written to and how it is saved, an operator's label, numbers with SI
prefixes, and what an analysis's header says about it (the facts and the notes `rooflens
analyze` prints and the report repeats). Light, so that the command line checks a path before
any work without loading matplotlib."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rooflens.core.options import Quantization
    from rooflens.core.results import Analysis

# matplotlib's format follows the suffix.
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
# Tables of rows (the simulator's per-request times) are written as CSV, whatever the name.
TABLE_SUFFIXES = (".csv",)
# The metadata matplotlib would stamp with the time of writing, left out by format, so that the
# same figure saved twice is the same file (PNG stores no date).
UNDATED = {".svg": {"Date": None}, ".pdf": {"CreationDate": None, "ModDate": None}}
# SVG clip paths and gradients are named by hashes salted at random unless this is set.
SVG_SALT = "rooflens"


def save_figure(fig: Any, path: str | os.PathLike[str], **options: Any) -> None:
    """Save a matplotlib figure to `path` (the format follows the suffix), byte for byte the
    same on every run: no date in SVG or PDF metadata, SVG ids from a fixed salt."""
    import matplotlib  # the figure's own library: loaded once a figure exists

    suffix = os.path.splitext(path)[1].lower()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        fig.savefig(path, metadata=UNDATED.get(suffix), **options)


def operator_label(
    name: str, span: int | None = None, chunk: int | None = None, mlp_width: int | None = None
) -> str:
    """'flash_attention (≤1,024 keys)', 'qk_matmul (chunks of 8,192)', 'gate_proj (5,376
    wide)': which attention or MLP an operator row is where a model has layers of each (Gemma
    3's window and global layers list attention twice, Nemotron-NAS its MLP once per width);
    the name alone elsewhere."""
    return (
        name
        + (f" (≤{span:,} keys)" if span else "")
        + (f" (chunks of {chunk:,})" if chunk else "")
        + (f" ({mlp_width:,} wide)" if mlp_width else "")
    )


_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float, unit: str = "", digits: int = 3) -> str:
    """1.23e12 -> '1.23 T' + unit (SI prefixes, as the seed's tables print)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    # Rounded before the prefix is chosen: 999.9e6 reads 1 G, not 1e+03 M.
    rounded = float(f"{value:.{digits}g}")
    for scale, prefix in _PREFIXES:
        if abs(rounded) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}".rstrip()


def seconds(value: float) -> str:
    """A time as the tables print it: '68.7 ms', '1.93 s', '1,823 s'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    # Rounded before the unit is chosen: 0.99996 s reads 1 s, not 1e+03 ms; and whole seconds
    # from a thousand on, not 1.82e+03 s.
    rounded = float(f"{value:.3g}")
    if rounded == 0:
        return "0 s"  # nothing: no unit is nearer
    if rounded >= 1000:
        return f"{value:,.0f} s"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if rounded >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def si_apart(first: float, second: float, unit: str = "") -> tuple[str, str]:
    """Two figures a verdict compares ('of' a capacity), with as many digits (3 to 6) as it
    takes for unequal values to read unequal: 78.697 GB of 78.679 GB, not 78.7 of 78.7."""
    digits = 3
    while digits < 6 and first != second and si(first, unit, digits) == si(second, unit, digits):
        digits += 1
    return si(first, unit, digits), si(second, unit, digits)


def changed_options(
    options: object, shown: tuple[str, ...] = (), hidden: tuple[str, ...] = ()
) -> list[str]:
    """'name=value' for every analysis option that differs from its default (nested
    descriptions flattened; an engine's state pool's fields under its name, `state_pool.ratio`),
    so a header says everything that changed the answer; `hidden`: options that change
    nothing here."""
    from rooflens.core.options import AnalysisOptions

    # Option groups whose fields read as settings of their own (quantization, parallelism...)
    # are flattened bare; these keep their name, their fields meaning nothing alone.
    named = ("state_pool",)

    def flat(data: dict, out: dict, prefix: str = "") -> dict:
        for key, value in data.items():
            if key in ("module_quantization", "partly_unquantized", *hidden):
                continue  # the checkpoint line says how the modules stored apart are
            if isinstance(value, dict) and key != "calibration":
                flat(value, out, f"{key}." if key in named else prefix)
            else:
                out[f"{prefix}{key}"] = value
        return out

    default = flat(AnalysisOptions().model_dump(), {})
    given = flat(options.model_dump(), {})  # type: ignore[attr-defined]
    items = []
    for key, value in given.items():
        if key in shown or key == "calibration" or value == default.get(key):
            continue
        if key == "nm_sparsity":
            value = ":".join(str(v) for v in value)
        elif isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value) if value else "none"
        items.append(f"{key}={value}")
    return items


def analysis_facts(result: Analysis, sizes: bool = True) -> list[str]:
    """What an analysis's header says after 'MODEL on DEVICE': parameters, batch and prompt
    (unless `sizes` is off: a sweep's vary), precision, the attention kernel and what priced
    it."""
    q = result.options.quantization
    shape = []
    if sizes:
        prompt = f"prompt {int(result.given_prompt_len)}" + (
            "" if result.asked_prompt_len is None else f" ({int(result.prompt_len)} prefilled)"
        )
        shape = [f"batch {int(result.batch)}", prompt]
    return [
        f"{si(result.params)} params"
        + (
            "" if result.active_params == result.params else f" ({si(result.active_params)} active)"
        ),
        *shape,
        f"W{q.w_bits}A{q.a_bits}KV{q.kv_bits}",
        *(["FlashAttention"] if result.options.flash_attention else []),
        result.options.estimate,
    ]


def stored_label(own: Quantization, base: Quantization) -> str:
    """'W4 mxfp4', or 'W8A8 fp' where a module's activations differ from the analysis's."""
    acts = f"A{own.a_bits}" if own.a_bits != base.a_bits else ""
    return f"W{own.w_bits}{acts} {own.w_format}"


def _by_storage(modules: tuple[tuple[str, Quantization], ...]) -> dict[Quantization, list[str]]:
    """The modules stored apart, by their storage ('routed experts' for the experts' class)."""
    grouped: dict[Quantization, list[str]] = {}
    for kind, own in modules:
        grouped.setdefault(own, []).append("routed experts" if kind == "experts" else kind)
    return grouped


def analysis_notes(result: Analysis) -> list[str]:
    """The lines under an analysis's header: how a quantized checkpoint is stored and run,
    every setting that changed the answer, how many devices the figures are per device of,
    operators priced beyond their profile's fitted sizes, and the profile's fallbacks."""
    lines = []
    q = result.options.quantization
    stored = result.model.checkpoint_quant
    if stored is not None:
        # The kernel 4-bit weights run with is the engine's choice, not the checkpoint's.
        as_run = q.model_copy(update={"w4_kernel": stored.quantization.w4_kernel})
        kept = "as stored" if as_run == stored.quantization else "overridden by the settings given"
        apart = "".join(
            f"; {', '.join(kinds)} {stored_label(own, q)}"
            for own, kinds in _by_storage(result.options.module_quantization).items()
        )
        by_layers: dict[tuple[int, int], list[str]] = {}
        for name, kept_16, held in result.options.partly_unquantized:
            by_layers.setdefault((kept_16, held), []).append(name)
        apart += "".join(
            f"; {', '.join(names)} at 16 bits" + (f" in {k} of {n} layers" if k < n else "")
            for (k, n), names in by_layers.items()
        )
        lines.append(f"checkpoint: {stored.method} quantization_config, precision {kept}{apart}")
    from rooflens.core.graph import kv_spans
    from rooflens.core.memory import kv_layers_held

    # An engine's pool of recurrent states holds nothing for a model without them, and its
    # padding of KV layer groups nothing where every layer holds its own blocks.
    model, options = result.model, result.options
    ungrouped = kv_layers_held(kv_spans(model, options), model, options.kv_group_slack) is None
    # The reason for no prefill graphs is said in the fallback line.
    hidden = (
        ("prefill_graph_note",)
        + ("state_pool",) * (model.mixer_layers == 0)
        + ("kv_group_slack",) * ungrouped
    )
    shown = ("w_bits", "a_bits", "kv_bits", "flash_attention", "execution")
    changed = changed_options(options, shown=shown, hidden=hidden)
    if changed:
        lines.append("settings: " + ", ".join(changed))
    par = result.options.parallelism
    devices, groups = par.devices, par.expert_token_groups
    if groups > 1:
        # Experts over several attention groups (ep x moe_tp beyond tp): one group is priced.
        inside = (
            f" (SGLang's and TensorRT-LLM's --tp {par.tp} --ep {par.ep} on {par.tp} devices "
            f"is --moe-tp {par.tp // par.ep} here)"
            if par.moe_tp is None and par.tp % par.ep == 0
            else ""
        )
        lines.append(
            f"{devices * groups} devices: {groups} groups of {devices}, each attending to its "
            f"own requests, whose experts serve every group's tokens; weights, KV cache and "
            f"times are per device, power and cost cover one group of {devices}{inside}"
        )
    elif devices > 1:
        lines.append(
            f"{devices} devices: weights, KV cache and times are per device; power and cost "
            "cover all of them"
        )
    notes = result.notes
    if notes:
        # Each note names one operator; the first says what they all mean.
        names = sorted({note.split(": ")[1] for note in notes})
        lines.append(
            f"note: {len(names)} operator(s) priced beyond the sizes their profile was fitted "
            f"over ({', '.join(names)}), at the curve's end value; e.g. {notes[0]}"
        )
    lines += [f"fallback: {line}" for line in result.fallbacks]
    pooled = _engine_pools(result)
    if pooled:
        lines.append(pooled)
    return lines


def _engine_pools(result: Analysis) -> str | None:
    """Where the engine holds the KV cache otherwise than one pool of every layer at its own
    size, as the largest batch counts it: vLLM's padded layer groups, SGLang's pool of
    recurrent states."""
    from rooflens.core.graph import kv_spans  # the engines' rules: only when noting them
    from rooflens.core.memory import kv_layers_held

    options, model = result.options, result.model
    held = kv_layers_held(kv_spans(model, options), model, options.kv_group_slack)
    if held is not None:
        return (
            f"memory: vLLM groups the KV cache's layers by kind and pads the groups: "
            f"{model.all_layers} layers hold {held} layers' blocks, as the largest batch counts "
            "them"
        )
    pool = options.state_pool
    running = np.min(result.peak_memory.running)
    if pool is not None and model.mixer is not None and np.isfinite(running):
        shared = " (three slots each with the radix cache)" if pool.per_request > 1 else ""
        return (
            f"memory: SGLang keeps recurrent states in a pool of their own beside the KV "
            f"cache: at most {int(running):,} running requests{shared}, as the largest batch "
            "counts them"
        )
    return None


# What an engine's memory share is a share of (EfficiencyProfile.memory_fraction_of), for
# the messages that say why a cache has no room.
SHARE_OF = {
    "device": "the device",
    "static": "the device, for weights and KV cache",
    "free": "the memory left free, for the KV cache",
}


def memory_verdict(result: Analysis) -> str:
    """The peak's verdict as `rooflens analyze` prints it and a report carries it: 'memory at
    the peak of the whole generation: 143 GB of 24.2 GB, DOES NOT FIT; largest batch that
    fits: 0'."""
    peak = result.peak_memory
    over = "the whole generation" if result.generation is not None else "prefill and decode"
    verdict = "fits" if peak.fits else "DOES NOT FIT"
    total, capacity = si_apart(float(peak.total), float(peak.capacity), "B")
    why = ""
    profile = result.options.calibration
    if not peak.fits and np.any(np.asarray(peak.batch) > peak.running):
        # More sequences than the engine's pool of recurrent states lets run at once.
        running = int(np.min(peak.running))
        why = f" (SGLang's pool of recurrent states runs at most {running:,} requests at once)"
    elif not peak.fits and float(peak.total) <= peak.capacity and profile is not None:
        # Under the capacity, yet the engine's share leaves the cache too little room (SGLang's
        # static share holds the weights and KV cache: 0.835 of an H100 is 71.4 GB).
        of = SHARE_OF[profile.memory_fraction_of]
        room = float(np.min(peak.room))
        left = "no room" if room <= 0 else f"only {si(room, 'B')}"
        share = f"{profile.memory_fraction:g} of {of}"
        why = f" (the engine's memory share, {share}, leaves the KV cache {left})"
    return (
        f"memory at the peak of {over}: {total} of {capacity}, {verdict}{why}; largest batch "
        f"that fits: {int(peak.max_batch)}"
    )
