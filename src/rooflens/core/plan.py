"""A graph's costs as matrices, built once per (graph, precision) and priced for every size
of a sweep at once.

Each cost field of each operator is a sum of coefficient x feature, a feature being a product
of step atoms (`rooflens.core.operators.STEP_ATOMS`, and the atoms technique rules multiply
in). Stacked over the graph, a field is one matrix [operators x features]; a step's features
are one array [features x sizes], so a field of every operator at every size is one matrix
product. An operator that prices itself (its own `cost`) enters with its evaluated fields as
features of coefficient 1, so technique rules apply to it alike. The per-operator path
(`Operator.cost` plus the rules, `operator_costs`) gives the same numbers one operator at a
time (tests/test_plan.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from rooflens.core.cache import BoundedCache
from rooflens.core.graph import Graph
from rooflens.core.operators import (
    STEP_ATOMS,
    Atom,
    Cost,
    Operator,
    Precision,
    Step,
    Term,
    Terms,
    per_row,
    priced_by_terms,
)
from rooflens.core.options import Quantization
from rooflens.core.techniques import contextual_sparsity, fusion

BYTE_FIELDS = ("load_weight", "load_act", "store_act", "load_kv", "store_kv")
# Atoms of technique rules, beside the step atoms of the operators.
RULE_ATOMS = contextual_sparsity.ATOMS


def priced_terms(op: Operator, prec: Precision, index: int) -> Terms:
    """An operator's cost fields as terms with the technique rules applied; an operator with
    its own `cost` is the feature ("cost", index, field)."""
    if priced_by_terms(op):
        terms = {f: per_row(op, t) for f, t in op.terms(prec).items()}
    else:
        terms = {f: ((1.0, (("cost", index, f),)),) for f in Cost.FIELDS}
    return contextual_sparsity.priced(op, fusion.priced(op, terms))


def output_terms(op: Operator, prec: Precision, index: int) -> tuple[Term, ...]:
    """Bytes of the temporary an operator leaves in memory, as terms."""
    if priced_by_terms(op) and type(op).output_bytes is Operator.output_bytes:
        terms = per_row(op, op.output_terms(prec))
    else:
        terms = ((1.0, (("output", index),)),)
    return fusion.stored_output(op, terms)


@dataclass(frozen=True)
class StepPlan:
    """Coefficient matrices of one graph at one precision."""

    graph: Graph
    prec: Precision
    features: tuple[tuple[Atom, ...], ...]
    # field -> [operators x features]; all byte fields summed in "memory_access".
    coefficients: dict[str, np.ndarray]
    # Bytes alive while each operator runs (graph liveness) -> [operators x features].
    live: np.ndarray
    # Every field's matrix and `live`, stacked: a step of few points computes them all at once.
    stacked: np.ndarray
    # Operators priced by their own cost, and those whose temporary is.
    own_cost: tuple[int, ...]
    own_output: tuple[int, ...]
    # field (and "live") -> (the features it has a term in, its matrix on those): a wide
    # step multiplies only them (DeepSeek-V3's OPs touch 6 of 43 features).
    used: dict[str, tuple[np.ndarray, np.ndarray]]

    def step_features(self, step: Step) -> tuple[np.ndarray, tuple[int, ...]]:
        """[features x points] of a step, and the step's shape."""
        shape = np.broadcast_shapes(
            np.shape(step.batch), np.shape(step.new_tokens), np.shape(step.past)
        )
        ops, prec = self.graph.operators, self.prec
        own = {i: ops[i].cost(step, prec) for i in self.own_cost}
        outputs = {i: ops[i].output_bytes(step, prec) for i in self.own_output}
        atoms: dict[Atom, np.ndarray] = {}

        def atom(a: Atom) -> np.ndarray:
            if a not in atoms:
                if a[0] == "cost":
                    atoms[a] = getattr(own[a[1]], a[2])
                elif a[0] == "output":
                    atoms[a] = outputs[a[1]]
                elif a[0] in RULE_ATOMS:
                    atoms[a] = RULE_ATOMS[a[0]](step, *a[1:])
                else:
                    atoms[a] = STEP_ATOMS[a[0]](step, *a[1:])
            return atoms[a]

        table = np.empty((len(self.features), *shape))
        for row, product in enumerate(self.features):
            value = atom(product[0])
            for a in product[1:]:
                value = value * atom(a)
            table[row] = value
        return table.reshape(len(self.features), -1), shape

    def fields(self, step: Step) -> StepFields:
        return StepFields(self, *self.step_features(step))

    def peak_activation_bytes(self, step: Step) -> np.ndarray:
        """Largest sum of temporaries alive at once (rooflens.core.memory)."""
        return self.fields(step).peak_activation_bytes()


class StepFields(Mapping[str, np.ndarray]):
    """Every cost field of every operator for one step, operator axis first; each field is
    computed when first read (a sweep's analysis reads only what its totals need)."""

    def __init__(
        self,
        plan: StepPlan,
        table: np.ndarray,
        shape: tuple[int, ...],
        given: dict[str, np.ndarray] | None = None,
    ) -> None:
        self._plan, self._table, self._shape = plan, table, shape
        # Fields given in place of the plan's (measured collective times).
        self._given = dict(given or {})
        self._computed = dict(self._given)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._computed and self._table.shape[1] <= _AT_ONCE:
            self._compute_all()
        if name not in self._computed:
            columns, coefficients = self._plan.used[name]
            values = _product(coefficients, self._table[columns])
            self._computed[name] = values.reshape((len(coefficients), *self._shape))
        return self._computed[name]

    def _compute_all(self) -> None:
        plan = self._plan
        n = len(plan.graph.operators)
        values = _product(plan.stacked, self._table).reshape((-1, n, *self._shape))
        names = (*plan.coefficients, "live")
        self._computed = dict(zip(names, values, strict=True)) | self._given

    def __iter__(self) -> Iterator[str]:
        return iter(Cost.FIELDS)

    def __len__(self) -> int:
        return len(Cost.FIELDS)

    def __or__(self, other: Mapping[str, np.ndarray]) -> StepFields:
        return StepFields(self._plan, self._table, self._shape, self._given | dict(other))

    def total(self, name: str, counts: np.ndarray) -> np.ndarray:
        """Sum over operators of counts x a field, without its table when it is not built:
        (counts x coefficients) x features."""
        if name in self._computed:
            return np.tensordot(counts, self._computed[name], axes=(0, 0))
        weights = counts @ self._plan.coefficients[name]
        return np.einsum("f,fp->p", weights, self._table).reshape(self._shape)

    def known_zero(self, name: str) -> bool:
        """Whether a field is zero at every step: no operator has a term in it."""
        return name not in self._given and not self._plan.coefficients[name].any()

    def peak_activation_bytes(self) -> np.ndarray:
        """Largest sum of temporaries alive at once while the step runs."""
        if "live" not in self._computed and self._table.shape[1] <= _AT_ONCE:
            self._compute_all()
        if "live" in self._computed:
            return self._computed["live"].max(axis=0)
        columns, live = self._plan.used["live"]
        return _product(live, self._table[columns]).max(axis=0).reshape(self._shape)

    def memory_access(self) -> np.ndarray:
        """All bytes each operator moves (the byte fields summed)."""
        if any(f in self._given for f in BYTE_FIELDS):
            return sum(self[f] for f in BYTE_FIELDS)
        return self["memory_access"]


# Steps of at most this many points compute every field at once (one product, not ten).
_AT_ONCE = 64


def _product(coefficients: np.ndarray, table: np.ndarray) -> np.ndarray:
    """[operators x features] times [features x points]. numpy's own loops, not BLAS: a
    threaded BLAS on these thin matrices is slower whenever the cores are shared."""
    return np.einsum("of,fp->op", coefficients, table)


def _used(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The features a matrix has a term in, and its columns for them."""
    columns = np.flatnonzero(matrix.any(axis=0))
    return columns, np.ascontiguousarray(matrix[:, columns])


def build_plan(graph: Graph, quant: Quantization) -> StepPlan:
    prec = Precision(quant)
    ops = graph.operators
    columns: dict[tuple[Atom, ...], int] = {}
    entries: dict[str, list[tuple[int, int, float]]] = {f: [] for f in Cost.FIELDS}
    outputs: list[list[tuple[int, float]]] = []
    for i, op in enumerate(ops):
        for f, terms in priced_terms(op, prec, i).items():
            for coef, atoms in terms:
                entries[f].append((i, columns.setdefault(atoms, len(columns)), coef))
        outputs.append(
            [
                (columns.setdefault(atoms, len(columns)), coef)
                for coef, atoms in output_terms(op, prec, i)
            ]
        )
    n, width = len(ops), len(columns)
    coefficients = {}
    for f, rows in entries.items():
        matrix = np.zeros((n, width))
        for i, j, coef in rows:
            matrix[i, j] += coef
        coefficients[f] = matrix
    coefficients["memory_access"] = sum(coefficients[f] for f in BYTE_FIELDS)
    out = np.zeros((n, width))
    for i, row in enumerate(outputs):
        for j, coef in row:
            out[i, j] += coef
    live = _liveness(ops) @ out
    return StepPlan(
        graph=graph,
        prec=prec,
        features=tuple(columns),
        coefficients=coefficients,
        live=live,
        stacked=np.concatenate([*coefficients.values(), live]),
        used={name: _used(matrix) for name, matrix in (*coefficients.items(), ("live", live))},
        own_cost=tuple(i for i, op in enumerate(ops) if not priced_by_terms(op)),
        own_output=tuple(
            i
            for i, op in enumerate(ops)
            if not priced_by_terms(op) or type(op).output_bytes is not Operator.output_bytes
        ),
    )


def _liveness(ops: tuple[Operator, ...]) -> np.ndarray:
    """[operators x operators]: 1 where the temporary operator j writes is alive while operator
    i runs, from the writer to its last reader; one decoder block stands for all, since
    blocks run one after another and reuse their buffers. Each write is a tensor of its own,
    read until the next write of its name: a block's variants (a window and a global
    attention, each writing `scores`) hold theirs one after the other, never together, and a
    write in place (a norm reading and writing one name) ends the tensor it replaces. An
    operator of no layer (a variant no layer of the model has) runs nowhere and holds
    nothing."""
    writer: dict[str, int] = {}  # name -> the operator that wrote its current tensor
    last_use: dict[int, int] = {}
    for i, op in enumerate(ops):
        if op.scope == "block" and op.layers == 0:
            continue
        for name in op.inputs:
            if name in writer:
                last_use[writer[name]] = i
        if op.output in writer and op.output in op.inputs:
            last_use[writer[op.output]] = i - 1
        writer[op.output] = i
        last_use[i] = i
    alive = np.zeros((len(ops), len(ops)))
    for start, end in last_use.items():
        alive[start : end + 1, start] = 1.0
    return alive


_PLANS = BoundedCache(64)


def step_plan(graph: Graph, quant: Quantization) -> StepPlan:
    """The plan of a graph at a precision, built once (a bounded cache)."""
    return _PLANS.get((quant,), lambda: build_plan(graph, quant), identities=(graph,))


def operator_costs(graph: Graph, quant: Quantization, step: Step) -> dict[str, np.ndarray]:
    """The per-operator path: each operator's own terms (or `cost`) with the technique rules,
    one operator at a time; the reference the plan is checked against."""
    prec = Precision(quant)
    shape = np.broadcast_shapes(
        np.shape(step.batch), np.shape(step.new_tokens), np.shape(step.past)
    )
    rows = {f: np.zeros((len(graph.operators), *shape)) for f in Cost.FIELDS}
    for i, op in enumerate(graph.operators):
        own = None if priced_by_terms(op) else op.cost(step, prec)
        for f, terms in priced_terms(op, prec, i).items():
            rows[f][i] = _evaluate_with(terms, step, own)
    return rows


def _evaluate_with(terms: tuple[Term, ...], step: Step, own: Cost | None) -> np.ndarray | float:
    total: np.ndarray | float = 0.0
    for coef, atoms in terms:
        value: np.ndarray | float = coef
        for a in atoms:
            if a[0] == "cost":
                value = value * getattr(own, a[2])
            elif a[0] in RULE_ATOMS:
                value = value * RULE_ATOMS[a[0]](step, *a[1:])
            else:
                value = value * STEP_ATOMS[a[0]](step, *a[1:])
        total = total + value
    return total
