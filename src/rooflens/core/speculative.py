"""Fast decoding: speculative decoding with a draft model or draft heads, tree verification,
and parallel (lookahead) decoding, priced with the same step analysis.

Per target step a drafter proposes `gamma` tokens, and the target verifies them in one step
of `gamma + 1` new tokens per sequence. With an acceptance rate `alpha` per token, the expected
tokens emitted per target step are (Leviathan et al. 2023, Chen et al. 2023):

    E = (1 - alpha^(gamma + 1)) / (1 - alpha)          (gamma + 1 when alpha = 1)

Tree verification with `width` candidates per position (SpecInfer, Medusa) accepts a position
when any candidate does: alpha_tree = 1 - (1 - alpha)^width, for width x (gamma + 1) verified
tokens. Speed-up = E x t_plain / (t_draft + t_verify).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rooflens.core.analysis import analyze, footprint, speculative_room
from rooflens.core.compressed import CompressedAttention
from rooflens.core.errors import InvalidInputError
from rooflens.core.graph import Graph, build_graph, kv_spans
from rooflens.core.hardware import Device
from rooflens.core.memory import kv_cache_bytes, peak_activation_bytes, weight_bytes
from rooflens.core.model import ModelSpec
from rooflens.core.mtp import mtp_graph, mtp_model, mtp_modules_held, stored_part
from rooflens.core.operators import LatentAttention, Linear, Step
from rooflens.core.options import AnalysisOptions
from rooflens.core.pricing import prefill_graph_limit, price_step
from rooflens.core.results import Analysis, Footprint
from rooflens.core.techniques.parallelism import local_model
from rooflens.core.validation import broadcast_sizes, positive_int_array

# The draft the command line and the viewer assume when none is given: four draft tokens per
# step, one candidate per position, each accepted at 0.85 once the ones before it were: the
# low end of DeepSeek-V3's report for its MTP module (85-90 % for the second token, arXiv
# 2412.19437, sec. 5.4.3), the one published rate of a drafter rooflens prices; the simulator's
# MTP drafts take it too (SchedulerConfig.acceptance). A draft model's or Medusa heads' rate
# depends on the pair and the text: give it.
DRAFT_TOKENS, ACCEPTANCE, TREE_WIDTH = 4, 0.85, 1


def drafted_tokens(drafting: bool, gamma: int | None, allow_long_context: bool) -> int | None:
    """The tokens a drafter drafts a step, which a default prompt leaves room for
    (default_prompt_len's `drafted`): none without a drafter, or with allow_long_context,
    which prices beyond the positions."""
    if not drafting or allow_long_context:
        return None
    return DRAFT_TOKENS if gamma is None else gamma


@dataclass(frozen=True)
class SpeculativeEstimate:
    tokens_per_step: np.ndarray
    plain_step: np.ndarray
    draft_time: np.ndarray
    verify_step: np.ndarray
    speedup: np.ndarray
    # Bytes per device the drafter's weights add beside the target's, which the analysis of
    # the target alone does not hold: a draft model's, the MTP modules', the Medusa heads'.
    drafter_weights: float = 0.0
    # What each device holds while speculating, drafter included (`_footprint`), at each
    # batch; None where not priced (parallel decoding).
    memory: Footprint | None = None
    # The drafter's own pass over the context, which a speculating engine runs beside the
    # target's prefill (a draft model's or MTP module's cache, and the first drafts): the
    # time to first token grows by it (as the serving simulator runs the MTP module over
    # prompt chunks); Medusa heads read only the last hidden state.
    prompt_time: np.ndarray | float = 0.0

    @property
    def time_per_token(self) -> np.ndarray:
        return (self.draft_time + self.verify_step) / self.tokens_per_step

    @property
    def fits(self) -> np.ndarray | None:
        """Whether the target, the drafter and their caches fit each device, per batch: a
        speed-up where they do not is of a setup that cannot run."""
        return None if self.memory is None else self.memory.fits

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready figures: numbers at one batch, lists of them over a batch sweep."""
        out: dict[str, Any] = {
            k: _plain(v, float)
            for k, v in (
                ("tokens_per_step", self.tokens_per_step),
                ("plain_step", self.plain_step),
                ("draft_time", self.draft_time),
                ("verify_step", self.verify_step),
                ("time_per_token", self.time_per_token),
                ("speedup", self.speedup),
                ("drafter_weights", self.drafter_weights),
                ("prompt_time", self.prompt_time),
            )
        }
        held = self.memory
        out["memory"] = None if held is None else _plain(held.total, float)
        out["memory_capacity"] = None if held is None else float(held.capacity)
        out["fits"] = None if held is None else _plain(held.fits, bool)
        return out


def _plain(value: object, kind: type) -> Any:
    """One figure as Python's `kind`, or a list of them for a sweep's array."""
    array = np.asarray(value)
    return kind(array) if array.ndim == 0 else [kind(v) for v in array.ravel()]


def expected_tokens(alpha: float, gamma: int) -> float:
    """Tokens emitted per target step: accepted drafts plus the target's own token."""
    if alpha >= 1:
        return gamma + 1.0
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def verification_graph(graph: Graph, new_tokens: int) -> Graph:
    """The graph a step verifying `new_tokens` tokens per sequence runs: latent attention with
    the decode (absorbed) kernel, DeepSeek-V4's compressed attention with the decode kernel's
    unpadded heads."""
    if new_tokens <= 1:
        return graph
    ops = tuple(
        replace(op, absorbed_up_to=new_tokens)
        if isinstance(op, LatentAttention)
        else replace(op, decode_up_to=new_tokens)
        if isinstance(op, CompressedAttention)
        else op
        for op in graph.operators
    )
    return replace(graph, operators=ops)


def _step_time(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    batch: np.ndarray,
    new_tokens: int,
    past: np.ndarray,
) -> np.ndarray:
    graph = verification_graph(build_graph(model, options, device), new_tokens)
    step = Step(batch=batch, new_tokens=np.full_like(past, float(new_tokens)), past=past)
    return price_step(
        graph, device, options.quantization, step, options.calibration, options.execution
    ).step_time()


def _medusa_head(target: ModelSpec) -> Graph:
    """One Medusa-1 head (Cai et al. 2024): a residual h x h layer and its own h x V head."""
    layers = [
        Linear(
            "medusa_block",
            "head",
            ("x",),
            "y",
            in_features=target.hidden_size,
            out_features=target.hidden_size,
            quantized=False,
        ),
        Linear(
            "medusa_lm_head",
            "head",
            ("y",),
            "z",
            in_features=target.hidden_size,
            out_features=target.vocab_size,
            quantized=False,
        ),
    ]
    return Graph(operators=tuple(layers), num_layers=1, total_layers=1)


def _heads_time(
    target: ModelSpec, device: Device, options: AnalysisOptions, heads: int, batch: np.ndarray
) -> np.ndarray:
    """`heads` Medusa heads, all run on the last hidden state of every sequence."""
    step = Step(batch=batch, new_tokens=np.ones_like(batch), past=np.zeros_like(batch))
    graph = _medusa_head(target)
    return (
        heads
        * price_step(
            graph, device, options.quantization, step, options.calibration, options.execution
        ).step_time()
    )


def speculative(
    target: ModelSpec,
    device: Device,
    *,
    gamma: int,
    alpha: float,
    draft: ModelSpec | None = None,
    medusa_heads: bool = False,
    mtp: bool = False,
    tree_width: int = 1,
    batch: object = 1,
    context: object = 1024,
    options: AnalysisOptions | None = None,
) -> SpeculativeEstimate:
    """Speculative decoding at one context length: with a `draft` model (gamma sequential
    draft steps), with `gamma` Medusa heads (one pass of the heads), or with the target's own
    multi-token-prediction modules (`mtp`: gamma sequential steps of one MTP module, as
    DeepSeek-V3 and GLM-4.5 are served)."""
    # Drafts' caches beside the target's: vLLM then unifies its page sizes by rules other than
    # its layer groups, and SGLang's state pool first sets aside the drafts' intermediate
    # states, neither of which this estimate follows; one pool, every layer its own.
    options = (options or AnalysisOptions()).model_copy(
        update={"kv_group_slack": None, "state_pool": None}
    )
    # numpy's integers (a script's loop) as Python's; its booleans stay refused.
    gamma = gamma.item() if isinstance(gamma, np.integer) else gamma
    tree_width = tree_width.item() if isinstance(tree_width, np.integer) else tree_width
    if not isinstance(gamma, int) or isinstance(gamma, bool) or gamma < 1:
        raise InvalidInputError("gamma", gamma, "a positive integer number of draft tokens")
    real = isinstance(alpha, int | float | np.integer | np.floating) and not isinstance(alpha, bool)
    if not real or not 0 <= alpha <= 1:
        raise InvalidInputError("alpha", alpha, "an acceptance rate in [0, 1]")
    if not isinstance(tree_width, int) or isinstance(tree_width, bool) or tree_width < 1:
        raise InvalidInputError("tree_width", tree_width, "a positive integer")
    medusa_heads = medusa_heads.item() if isinstance(medusa_heads, np.bool_) else medusa_heads
    mtp = mtp.item() if isinstance(mtp, np.bool_) else mtp
    for field, flag in (("medusa_heads", medusa_heads), ("mtp", mtp)):
        if not isinstance(flag, bool):
            raise InvalidInputError(field, flag, "True or False")
    given = [
        name
        for name, on in (
            (f"draft={draft.name}" if draft is not None else "", draft is not None),
            ("medusa_heads=True", bool(medusa_heads)),
            ("mtp=True", bool(mtp)),
        )
        if on
    ]
    if len(given) > 1:
        # Two drafters at once: the second named is the one to leave out.
        field = "mtp" if mtp else "medusa_heads"
        raise InvalidInputError(
            field,
            True,
            f"one drafter: {', '.join(given[:-1])} and {given[-1]} were given (a draft model, "
            "Medusa heads or the model's MTP module: one of them)",
        )
    if not given:
        raise InvalidInputError(
            "draft", None, "exactly one of a draft model, medusa_heads=True or mtp=True"
        )
    # A draft's tokens are the target's: a vocabulary apart by more than the padding
    # checkpoints add (Qwen2.5's 0.5B and 7B: 151,936 and 152,064) is another tokenizer.
    if draft is not None and abs(draft.vocab_size - target.vocab_size) > 0.01 * target.vocab_size:
        raise InvalidInputError(
            "draft",
            draft.name,
            f"a model with {target.name}'s tokenizer: its vocabulary holds "
            f"{draft.vocab_size:,} tokens, the target's {target.vocab_size:,}",
        )
    if mtp and not target.mtp_layers:
        raise InvalidInputError(
            "mtp", mtp, f"False: {target.name} has no multi-token-prediction modules"
        )
    b = positive_int_array("batch", batch)
    s = positive_int_array("context", context)
    b, s = broadcast_sizes(batch=b, context=s)
    most = speculative_room(target, gamma)  # the verify step's gamma + 1 tokens, then one
    if most < 1:  # no context leaves room for the drafts: they are the culprit, not it
        raise InvalidInputError(
            "gamma",
            gamma,
            f"at most {target.max_positions - 3} draft tokens ({target.name} has "
            f"{target.max_positions} positions; a step verifies gamma + 1 tokens after the "
            "context)",
        )
    if not options.allow_long_context and np.any(s > most):
        raise InvalidInputError(
            "context",
            int(np.max(s)),
            f"at most {most} tokens: verifying {gamma + 1} tokens after it takes "
            f"{target.name}'s last positions of {target.max_positions}; allow_long_context=True "
            "(--allow-long-context) prices beyond them",
        )
    # Validates the sizes and settings; its decode step holds the target's cache at the
    # context and the gamma + 1 tokens a step verifies.
    held_by_target = analyze(target, device, batch=b, prompt_len=s + gamma, options=options)
    plain = _step_time(target, device, options, b, 1, s)
    verify = _step_time(target, device, options, b, tree_width * (gamma + 1), s)
    quant = options.quantization
    if draft is not None:
        # gamma autoregressive draft steps (at the same context: the draft keeps its own cache).
        drafting = gamma * _step_time(draft, device, options, b * tree_width, 1, s)
        held = weight_bytes(build_graph(draft, options, device), quant)
        # Its own cache, as `analyze` holds it, at the target's context whatever the draft's
        # positions (it is priced there too).
        drafter_memory = analyze(
            draft, device, batch=b, prompt_len=s + gamma,
            options=options.model_copy(update={"allow_long_context": True}),
        ).memory  # fmt: skip
        beside = drafter_memory["decode"]
        drafter_weights, drafter_kv = beside.weights, beside.kv_cache
        # The draft prefills the context too (after the target, its temporaries its own).
        drafter_prefill = drafter_memory["prefill"].activations
        prompt_time = _prompt_pass(build_graph(draft, options, device), device, options, b, s)
    elif mtp:
        # Each draft token is one MTP module step: one block with its own cache, and a head.
        step = Step(batch=b * tree_width, new_tokens=np.ones_like(s, dtype=float), past=s)
        module = mtp_graph(target, options, device)
        drafting = (
            gamma
            * price_step(
                module, device, quant, step, options.calibration, options.execution
            ).step_time()
        )
        # Every module is held, as the simulator holds them; each one's layer keeps a cache of
        # the context beside the model's.
        modules = mtp_modules_held(target)
        held = modules * weight_bytes(stored_part(target, module), quant)
        layer = local_model(mtp_model(target), options.parallelism)
        # A module's window layer (Step 3.7's, DeepSeek-V4's) keeps only its window.
        spans = kv_spans(layer, options)
        drafter_kv = modules * kv_cache_bytes(layer, quant, b, s + gamma + 1, spans)
        # Its pass over the prompt (prompt_time) holds one layer's activations, below the
        # target's prefill peak: no peak of its own to weigh.
        drafter_weights, drafter_prefill = held, 0.0
        prompt_time = _prompt_pass(module, device, options, b, s)
    else:
        drafting = _heads_time(target, device, options, gamma, b)
        held = gamma * weight_bytes(_medusa_head(target), quant)
        drafter_weights, drafter_kv = held, 0.0  # the heads keep no cache
        drafter_prefill = 0.0  # nor prefill anything of their own
        prompt_time = np.zeros_like(plain)
    tree_alpha = 1 - (1 - alpha) ** tree_width
    tokens = np.full_like(plain, expected_tokens(tree_alpha, gamma))
    speedup = tokens * plain / (drafting + verify)
    # The verify step's activations: its w(gamma + 1) tokens per sequence at once.
    verified = Step(batch=b, new_tokens=np.full_like(s, float(tree_width * (gamma + 1))), past=s)
    graph = verification_graph(build_graph(target, options, device), tree_width * (gamma + 1))
    own = held_by_target.memory["decode"]
    # An engine's reserve already holds a verify step within its token budget. Otherwise the
    # largest of the verify step's and the context's prefills', the target's and a draft
    # model's (with the drafter resident throughout: a setup whose prefill peak leaves no
    # room for it does not fit).
    prefilled = held_by_target.memory["prefill"].activations
    activations = (
        own.activations
        if own.reserved
        else np.maximum.reduce(
            [
                own.activations,
                prefilled,
                np.broadcast_to(drafter_prefill, np.shape(prefilled)),
                peak_activation_bytes(graph, quant, verified),
            ]
        )
    )
    # Under a KV budget the context's prefill holds its whole prompt until the pass ends
    # (analysis' generation peak); without one the decode step's cache is the larger.
    target_kv = np.maximum(own.kv_cache, held_by_target.memory["prefill"].kv_cache)
    memory = footprint(
        device,
        options.calibration,
        b,
        own.weights + drafter_weights,
        target_kv + drafter_kv,
        activations,
        own.host,
        own.reserved,
    )
    return SpeculativeEstimate(
        tokens,
        plain,
        np.broadcast_to(drafting, plain.shape),
        verify,
        speedup,
        held,
        memory,
        np.broadcast_to(prompt_time, plain.shape),
    )


def _prompt_pass(
    graph: Graph, device: Device, options: AnalysisOptions, batch: np.ndarray, context: np.ndarray
) -> np.ndarray:
    """A drafter's pass over each sequence's `context` prompt tokens, as one prefill (without
    a CUDA graph past the engine's prefill graphs)."""
    step = Step(batch=batch, new_tokens=np.asarray(context, dtype=float), past=0 * context)
    return price_step(
        graph, device, options.quantization, step, options.calibration, options.execution,
        graph_tokens=prefill_graph_limit(options),
    ).step_time()  # fmt: skip


def parallel_decoding(
    target: ModelSpec,
    device: Device,
    *,
    window: int,
    tokens_per_step: float,
    batch: object = 1,
    context: object = 1024,
    options: AnalysisOptions | None = None,
) -> SpeculativeEstimate:
    """Parallel / lookahead decoding (Santilli et al. 2023; Fu et al. 2024): each target step
    processes `window` guessed positions and emits `tokens_per_step` tokens on average."""
    options = options or AnalysisOptions()
    if not isinstance(window, int) or window < 1:
        raise InvalidInputError("window", window, "a positive integer")
    if not 1 <= tokens_per_step <= window:
        raise InvalidInputError("tokens_per_step", tokens_per_step, f"a number in [1, {window}]")
    b = positive_int_array("batch", batch)
    s = positive_int_array("context", context)
    b, s = broadcast_sizes(batch=b, context=s)
    plain = _step_time(target, device, options, b, 1, s)
    step = _step_time(target, device, options, b, window, s)
    tokens = np.full_like(plain, float(tokens_per_step))
    return SpeculativeEstimate(tokens, plain, np.zeros_like(plain), step, tokens * plain / step)


def speculative_generation(
    result: Analysis, speedup: float, hourly_price: float | None = None, prompt_time: float = 0.0
) -> dict[str, float | None] | None:
    """The generation's figures with every decode step sped up as the step at the prompt's
    context is (the speculation estimate's speed-up) and the drafter's pass over the prompt
    (`prompt_time`) before the first token: time to first token and per output token,
    end-to-end latency, throughput and, where the device has a price, the output tokens' cost
    (else None)."""
    g = result.generation
    if g is None:
        return None
    decode = float(g["decode_time"]) / speedup
    ttft = float(g["ttft"]) + prompt_time
    e2e = ttft + decode
    out: dict[str, float | None] = {
        "ttft": ttft,
        "tpot": float(g["tpot"]) / speedup,
        "e2e_latency": e2e,
        "throughput": float(result.batch) * float(result.gen_len) / e2e,
    }
    price = hourly_price or result.device.hourly_price
    out["cost_per_million_output"] = None  # unpriced
    if price is not None:
        # Device time is what the price buys: the output tokens' share shrinks with it.
        plain = float(result.economics(hourly_price)["cost_per_million_output"])
        out["cost_per_million_output"] = plain / speedup
    return out
