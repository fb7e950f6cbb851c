"""`rooflens advise`: the cheapest setup that serves a workload within its SLO."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from rooflens.advisor.choices import AdviseSearch, parse_search
from rooflens.api import resolve_device
from rooflens.cli import format as fmt
from rooflens.cli.common import (
    ModelArg,
    OutputFormat,
    _clean_errors,
    _console,
    app,
    declared_options,
    err_console,
    figure_file,
    file_name,
    wrote,
)
from rooflens.core.errors import InvalidInputError, did_you_mean
from rooflens.serving.config import (
    ADVISE_SLO,
    Target,
    build,
    key_value_items,
    parse_slo,
    slo_text,
)

# The advisor (pandas, the simulator) is imported when `rooflens advise` runs.

SHOWN = ["device", "tp", "pp", "experts", "weights", "kv_bits", "replicas", "batch_limit",
         "ttft", "tpot", "cost_per_hour", "cost_per_million", "energy_per_million",
         "pareto"]  # fmt: skip
# Columns left out of the table, and said once, where every pick shown has the same value.
SAME_FOR_ALL = ("tp", "pp", "experts", "kv_bits", "replicas", "cost_per_hour", "pareto")
# Headers short enough not to break mid-word in a terminal (tokens: prompt and output).
HEADERS = {"kv_bits": "KV bits", "batch_limit": "batch limit",
           "cost_per_hour": "$/hour", "cost_per_million": "$/M tokens",
           "energy_per_million": "energy/M tokens"}  # fmt: skip


def _load_text(target: Target) -> str:
    return f"prompt={target.prompt_len},output={target.output_len},rate={target.rate:g}"


def _workload(text: str) -> Target:
    """'prompt=1000,output=300,rate=20'."""
    values: dict[str, float] = {}
    names = {"prompt": "prompt_len", "output": "output_len", "rate": "rate"}
    for item in key_value_items("--workload", text, "prompt=N,output=N,rate=R"):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in names:
            # The item itself, which names the key refused ('outpt=300'), with its likely fix.
            hint = "" if key.strip() in names else did_you_mean(key, names)
            raise InvalidInputError("--workload", item, f"prompt=N,output=N,rate=R{hint}")
        if names[key.strip()] in values:  # the last one was taken, silently
            raise InvalidInputError("--workload", text, f"{key.strip()} given once")
        try:
            values[names[key.strip()]] = float(value)
        except ValueError:
            raise InvalidInputError(f"--workload {key.strip()}", value, "a number") from None
    typed = {field: key for key, field in names.items()}  # a refusal names the key typed
    for key in ("prompt_len", "output_len"):
        if key in values:
            if not values[key].is_integer():  # 1.5 tokens was read as 1
                raise InvalidInputError(
                    f"--workload {typed[key]}", values[key], "a whole number of tokens"
                )
            values[key] = int(values[key])
    if not values:  # commas alone: no key given, which an empty value says plainly
        raise InvalidInputError("--workload", text, "prompt=N,output=N,rate=R (any of them)")
    try:
        return build(Target, "--workload", **values)
    except InvalidInputError as exc:
        if exc.field not in typed:
            raise
        raise InvalidInputError(f"--workload {typed[exc.field]}", exc.value, exc.accepted) from None


@app.command("advise")
@_clean_errors
@declared_options(AdviseSearch, "search")
def advise_cmd(
    model: ModelArg,
    workload: Annotated[
        str | None,
        typer.Option(
            help="Load to serve: prompt=TOKENS,output=TOKENS,rate=REQ_PER_S; a key left out "
            f"keeps its default ({_load_text(Target())}); empty: all of them."
        ),
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option(
            help=f"Objectives, e.g. ttft_p99=2s,tpot_p99=60ms (default, or empty: "
            f"{slo_text(ADVISE_SLO)})."
        ),
    ] = None,
    verify_top: Annotated[
        int, typer.Option("--verify", help="Confirm this many top picks in the simulator.")
    ] = 3,
    top: Annotated[
        int,
        typer.Option(
            help="Picks to show: the table's rows and the JSON's picks (the CSV holds every "
            "setup screened)."
        ),
    ] = 5,
    plot: Annotated[
        Path | None, typer.Option(help="Pareto front to .png/.svg/.pdf.", parser=file_name)
    ] = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            help="Output format: table or json, the top picks (--top) and why the others "
            "were turned away; csv, every setup screened, ranked (the picks first), each with "
            "what binds it, in the same columns every run.",
            case_sensitive=False,
        ),
    ] = OutputFormat.table,
    search: dict[str, object] | None = None,
) -> None:
    """Search devices × tensor parallelism × quantization for the setup that meets the SLO
    at the lowest cost (or energy, or latency); explain the top picks."""
    from rooflens.advisor.search import (
        advise,
        candidates,
        picks_to_verify,
        priced_pool,
        unsearched_price,
        verify,
    )
    from rooflens.api import resolve_model

    figure_file("--plot", plot)
    # Empty: the default load, as an empty declared option is left out (an unset variable).
    target = _workload(workload) if workload else Target()
    for flag, value, least in (("--top", top, 1), ("--verify", verify_top, 0)):
        if value < least:
            raise InvalidInputError(flag, value, f"an integer of at least {least}")
    # An objective left out keeps the advisor's default, as the help says.
    objectives = parse_slo(slo, ADVISE_SLO) if slo else ADVISE_SLO
    # The search's options are declared once (AdviseSearch), as the viewer's fields are.
    chosen = parse_search(search or {})
    # Prices by the catalog name of the device each names (an alias too).
    given = {
        resolve_device(name, "--hourly-prices").name: (name, price)
        for name, price in chosen.hourly_prices.items()
    }
    named = [resolve_device(d, "--devices") for d in chosen.devices] if chosen.devices else None
    pool = priced_pool(named, chosen.engine, {key: price for key, (_, price) in given.items()})
    outside = unsearched_price(pool, given)
    if outside is not None:
        name, price, accepted = outside
        raise InvalidInputError("--hourly-prices", f"{name}={price:g}", accepted)
    spec = resolve_model(model)
    total = len(
        candidates(pool, chosen.tp, chosen.weights, chosen.kv_bits, chosen.pp, spec,
                   chosen.experts)
    )  # fmt: skip
    bar, advance = fmt.progress_bar(err_console, "screening setups", total)
    shown = fmt.shows_progress(err_console)
    with bar if total > 200 and shown else nullcontext():
        advice = advise(spec, target, objectives, devices=pool, tps=chosen.tp,
                        weights=chosen.weights, kv_bits=chosen.kv_bits, pps=chosen.pp,
                        experts=chosen.experts, rank=chosen.rank, budget=chosen.budget,
                        progress=advance, engine=chosen.engine,
                        engine_version=chosen.engine_version)  # fmt: skip
    if verify_top:
        runs = len(picks_to_verify(advice.table, verify_top))
        bar, advance = fmt.progress_bar(err_console, "confirming the top picks", runs)
        with bar if runs and shown else nullcontext():
            advice = verify(advice, spec, top=verify_top, progress=advance)
    if plot:
        from rooflens.views.advisor_plots import pareto

        pareto(advice, plot)
        wrote(plot)
    picks = advice.top(top)
    if output_format is OutputFormat.json:
        data = {
            # What was searched, first, as the analyses' JSON heads its figures with what
            # they were computed for (docs/output.md): the devices as a list, all searched.
            "model": spec.name,
            "hardware": [device.name for device in pool],
            "estimate": advice.estimate,
            "settings": chosen.changed(),
            "workload": advice.target.model_dump(),
            # The objectives applied: those given, the advisor's defaults for the rest.
            "slo": advice.slo.model_dump(),
            # The top picks, each with the CSV's columns (COLUMNS), and why.
            "picks": picks.to_dict(orient="records"),
            "explanations": [advice.explain(row) for _, row in picks.iterrows()],
            # The requests each confirming simulation served (0: none ran).
            "verify_requests": advice.verify_requests,
            "rejected": sum(int(r["count"]) for r in advice.rejections()),
            # Of those, the setups not priced at all (no engine profile for the device).
            "not_priced": int(advice.unpriced.sum()),
            "rejections": advice.rejections(),
            # Per pick's device, how far the engine's forecasts there fell from its measured
            # runs ({} for the roofline bounds), as simulate's `validation` says it.
            "validation": advice.measured_runs(picks, spec),
        }
        sys.stdout.write(fmt.to_json(data))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(advice.table.to_csv(index=False))
    else:
        _print(advice, picks, spec.is_moe)
        for device, line in advice.measured_runs(picks, spec).items():
            _console().print(f"checked against, {device}: {line}")


def _tally(advice) -> str:
    """How the setups fared, as the rejections count them: those meeting the SLO (a pick the
    simulator refuted does not), those over the budget, those missing it, those not priced."""
    table, unpriced, over, refuted = (
        advice.table,
        advice.unpriced,
        advice.over_budget,
        advice.refuted,
    )
    no_price = advice.unpriced_under_budget
    meet = int((table["feasible"] & ~refuted).sum())
    missing = int(((~table["feasible"] & ~unpriced & ~over & ~no_price) | refuted).sum())
    parts = [f"{_setups(meet)} {'meets' if meet == 1 else 'meet'} the SLO", f"{missing} do not"]
    if over.any():
        parts.append(f"{int(over.sum())} would, over the budget")
    if no_price.any():
        parts.append(f"{int(no_price.sum())} would, with no price to hold to the budget")
    if unpriced.any():
        parts.append(f"{int(unpriced.sum())} could not be priced")
    return "; ".join(parts) + "."


def _print(advice, picks, moe: bool) -> None:
    console = _console()
    if picks.empty:
        budgeted = advice.over_budget.any() or advice.unpriced_under_budget.any()
        within = " within the budget." if budgeted else "."
        console.print("No setup meets the SLO" + within, style="red")
        console.print(_tally(advice))
        _print_why(advice)
        return
    # How experts are laid out says nothing of a dense model.
    shown = picks[[c for c in SHOWN if c in picks and (moe or c != "experts")]].copy()
    for column in ("ttft", "tpot"):
        shown[column] = shown[column].map(fmt.seconds)
    # A device the catalog has no price for shows no cost ("$nan" before).
    shown["cost_per_hour"] = shown["cost_per_hour"].map(
        lambda v: f"${v:.2f}" if np.isfinite(v) else "—"
    )
    shown["cost_per_million"] = shown["cost_per_million"].map(fmt.dollars)
    shown["energy_per_million"] = shown["energy_per_million"].map(lambda v: fmt.si(v, "J"))
    if picks["verified"].notna().any():  # the simulator ran (--verify)
        said = picks["verified"].map({True: "meets SLO", False: "misses"})
        # Pipeline stages are not simulated: such a pick is passed by, not left blank.
        staged = picks["pp"].gt(1) & picks["verified"].isna()
        shown["simulated"] = said.astype(object).where(~staged, "not run (PP)").fillna("")
    # A setup priced partly on stand-in curves (where its engine's profile has none of its own).
    standing_in = picks["stand_ins"].fillna("").astype(bool) if "stand_ins" in picks else None
    if standing_in is not None and standing_in.any():
        shown["weights"] = shown["weights"].where(~standing_in, shown["weights"] + " †")
    # A column every pick shares says nothing row by row: one line says it, and the table
    # keeps to a terminal's width.
    same = [c for c in SAME_FOR_ALL if c in shown and len(shown) > 1 and shown[c].nunique() == 1]
    load = advice.target
    workload = (
        f"{load.prompt_len:,} prompt + {load.output_len:,} output tokens at {load.rate:g} req/s"
    )
    title = f"best setups by {advice.rank} for {workload}, {advice.estimate}"
    ranked = {"cost": ("cost_per_million", "a price"), "energy": ("energy_per_million", "a TDP")}
    if advice.rank in ranked:
        column, needs = ranked[advice.rank]
        missing = picks[column].isna()
        if missing.all():
            # Nothing to rank by: the order is the latency tie-break's.
            title = (
                f"best setups by latency (none has {needs} to rank by {advice.rank}) for "
                f"{workload}, {advice.estimate}"
            )
        elif missing.any():
            title += f" (those without {needs} last, by latency)"
    console.print(fmt.frame_table(shown.drop(columns=same).rename(columns=HEADERS), title))
    if same:
        alike = ", ".join(f"{HEADERS.get(c, c)} {shown[c].iloc[0]}" for c in same)
        console.print(f"every setup shown: {alike}")
    if standing_in is not None and standing_in.any():
        console.print(f"† priced partly on stand-in curves: {_stand_ins(picks[standing_in])}")
    for i, (_, row) in enumerate(picks.head(3).iterrows(), 1):
        console.print(f"{i}. {advice.explain(row)}")
    console.print(_tally(advice))
    _print_why(advice)


def _print_why(advice) -> None:
    """The objectives applied (those given and the defaults for the rest), and the commonest
    reasons the other setups were turned away (Advice.rejections, as the JSON lists them)."""
    console = _console()
    console.print(f"objectives: {slo_text(advice.slo)}")
    for reason in advice.rejections()[:3]:
        # The example is one setup's reason (its figures are that setup's, not every one's).
        console.print(f"  {_setups(reason['count'])}, for example: {reason['example']}")


def _setups(count: int) -> str:
    return f"{count} setup{'' if count == 1 else 's'}"


def _stand_ins(rows) -> str:
    """The curves the marked picks' profiles lack, each named once."""
    keys = [k for text in rows["stand_ins"] for k in str(text).split(", ") if k]
    return ", ".join(dict.fromkeys(keys)) + " (the fallback lines of `rooflens analyze` say how)"
