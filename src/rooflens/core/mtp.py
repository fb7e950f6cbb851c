"""Multi-token prediction modules (DeepSeek-V3, 2024, sec. 2.2; GLM-4.5; Kimi K2).

Each MTP module joins the main model's last hidden state with the next token's embedding and
runs one more decoder block to predict one token further: RMSNorms of both (enorm, hnorm), a
projection 2h -> h (eh_proj), one MoE block like the main model's, a final norm and an output
head. DeepSeek-V3 and GLM-4.5 checkpoints store each module's own copy of the embedding and
head; GLM-5's uses the main model's. Served, the modules
draft tokens for the main model to verify (built-in speculative decoding,
rooflens.core.speculative with `mtp=True`).
"""

from __future__ import annotations

from dataclasses import replace

from rooflens.core.graph import Graph, build_graph
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.operators import Linear, Norm
from rooflens.core.options import AnalysisOptions


def mtp_model(model: ModelSpec) -> ModelSpec:
    """The one-layer model an MTP module runs: one block like the main model's (an MoE
    block where the model has experts, unless `mtp_dense_mlp`), attending over its own full
    cache, or its window where the model has one (in the window layers' shape); a hybrid's is
    a full-attention block (vLLM's Qwen3-Next MTP pins its layer to full attention)."""
    # Step 3.5/3.7: a dense MLP in an MoE model's MTP block.
    dense = 1 if model.mtp_dense_mlp else 0 if model.is_moe else model.dense_layers
    return model.model_copy(
        update={
            "num_layers": 1,
            "mixer": None,
            "mixer_layers": 0,
            # A hybrid's block keeps its own attention (Qwen3-Next's output gate).
            "attention_layers": None if model.attention_layers is None else 1,
            "mlp_layers": None,
            "dense_layers": dense,
            "window_layers": None,
            # Every layer of the one-layer model attends to the window: its shape is the window
            # layers' (Step 3.5/3.7's MTP layers are sliding-attention layers).
            "global_head_dim": None,
            "global_kv_heads": None,
            "global_k_eq_v": False,
            "global_heads": None,
            "global_sinks": None,
            "chunk_layers": None,
            # Its one layer runs an indexer where the model's do (a count of the main model's
            # layers, GLM-5's from indexer_types, counted 78 indexers in the one layer).
            "index_layers": None if model.index_layers is None else min(model.index_layers, 1),
            "mtp_layers": 0,
            # DeepSeek-V4's MTP layer attends to its window only (compress ratio 0).
            "csa_layers": 0,
            "hca_layers": 0,
        }
    )


def mtp_graph(
    model: ModelSpec, options: AnalysisOptions | None = None, device: Device | None = None
) -> Graph:
    """One MTP module: the joining norms and projection, then a one-layer model (embedding,
    block, final norm, head) that prices a draft step as well as counting parameters."""
    options = options or AnalysisOptions()
    graph = build_graph(mtp_model(model), options, device)
    h = model.hidden_size
    norm = {"width": h, "kind": model.norm, "conventions": options.conventions}
    joining = (
        Norm("mtp_enorm", "head", ("e",), "en", **norm),
        Norm("mtp_hnorm", "head", ("h",), "hn", **norm),
        Linear("mtp_eh_proj", "head", ("en", "hn"), "x", in_features=2 * h, out_features=h),
    )
    return replace(graph, operators=joining + graph.operators)


def stored_part(model: ModelSpec, graph: Graph) -> Graph:
    """An MTP module's graph less what it shares with the main model (its embedding and head,
    where the checkpoint stores no copies of its own; Step 3.5/3.7's modules store a head of
    their own beside the main model's embedding)."""
    own_head = model.mtp_own_embeddings if model.mtp_own_head is None else model.mtp_own_head
    shared = {"embed_tokens"} if not model.mtp_own_embeddings else set()
    shared |= set() if own_head else {"lm_head"}
    if not shared:
        return graph
    return replace(graph, operators=tuple(op for op in graph.operators if op.name not in shared))


def mtp_modules_held(model: ModelSpec) -> int:
    """MTP modules an engine holds while drafting: every one the checkpoint has, each draft
    step running one in turn (vLLM's MTP models build all num_nextn_predict_layers layers and
    pick layer spec_step_idx % num_mtp_layers), each with its own layer's KV cache."""
    return max(model.mtp_layers, 1)


def mtp_params(model: ModelSpec) -> int:
    """Parameters of all `mtp_layers` modules: left out of the generating model's count. A
    module that uses the main model's embedding and head stores neither."""
    if not model.mtp_layers:
        return 0
    return model.mtp_layers * stored_part(model, mtp_graph(model)).params()
