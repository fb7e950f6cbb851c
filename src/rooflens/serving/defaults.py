"""The synthetic workload a simulation starts from when none is given: `rooflens simulate`'s
defaults, which the web's serving page and the API's Workload share
(tests/test_web_serving.py holds them equal)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rooflens.core.errors import InvalidInputError

if TYPE_CHECKING:
    from rooflens.serving.workload import LengthDistribution

REQUESTS = 1000
RATE = 4.0  # requests per second
ARRIVALS: Final = "poisson"
CV = 2.0  # gamma arrivals: coefficient of variation of the gaps
# Gamma gaps of shape 1/cv**2: below 1e-3 the shape overflows (and the gaps are evenly spaced
# anyway: arrivals "fixed"); above 1e3 nearly every gap is zero.
CV_MIN, CV_MAX = 1e-3, 1e3
PROMPT = "lognormal:512:0.8:3072"
OUTPUT = "lognormal:128:0.8:1024"


def _lognormal(text: str) -> tuple[int, str, int]:
    """A default's median, sigma and cap ("lognormal:512:0.8:3072")."""
    _, median, sigma, cap = text.split(":")
    return int(median), sigma, int(cap)


# Their caps' sum: a model with fewer positions takes shorter caps (default_lengths).
CAPPED_AT = _lognormal(PROMPT)[2] + _lognormal(OUTPUT)[2]


def default_lengths(
    context: int | None,
    prompt: str | LengthDistribution = PROMPT,
    output: str | LengthDistribution = OUTPUT,
    shared_prefix: int = 0,
) -> tuple[str | LengthDistribution, str | LengthDistribution]:
    """The prompt and output lengths as given, the defaults among them fitted to the model's
    positions less a prefix every prompt starts with. Beside a given length whose longest draw
    is bounded, a default is capped at what that leaves (GPT-2's 1,024 positions with a fixed
    600-token output: prompts up to 424). Otherwise, below CAPPED_AT positions (OPT's 2,048,
    GPT-2's 1,024, which refused their own defaults) the defaults take their caps' shares of
    the room (three quarters and a quarter), their medians no higher. `context` None:
    simulated beyond the model's positions (allow_long_context), the lengths as given."""
    if context is None or (prompt != PROMPT and output != OUTPUT):
        return prompt, output
    room = context - shared_prefix
    if room < 2:  # no default length fits beside the prefix: the prefix is at fault
        raise InvalidInputError(
            "shared_prefix",
            shared_prefix,
            f"at most {context - 2} tokens: the model's {context} positions hold the prefix, "
            "a prompt token after it and a token of output",
        )
    prompt_cap = _lognormal(PROMPT)[2]
    output_cap = _lognormal(OUTPUT)[2]
    given = None
    if output != OUTPUT:
        given = _longest("output", output)
    elif prompt != PROMPT:
        given = _longest("prompt", prompt)
    if given is not None and given < room:
        # The default takes what the given length leaves, up to its own cap.
        prompt_cap, output_cap = min(prompt_cap, room - given), min(output_cap, room - given)
    elif room >= CAPPED_AT:
        return prompt, output
    else:
        prompt_cap = max(1, room * prompt_cap // CAPPED_AT)
        output_cap = room - prompt_cap
    if prompt == PROMPT:
        median, sigma, _ = _lognormal(PROMPT)
        prompt = f"lognormal:{min(median, prompt_cap)}:{sigma}:{prompt_cap}"
    if output == OUTPUT:
        median, sigma, _ = _lognormal(OUTPUT)
        output = f"lognormal:{min(median, output_cap)}:{sigma}:{output_cap}"
    return prompt, output


def _longest(field: str, given: str | LengthDistribution) -> int | None:
    """The longest length a given distribution draws; None where its draws are unbounded, or
    where its text is no length (refused where it is parsed, naming the option given)."""
    # Imported here: the workload module takes its defaults from this one.
    from rooflens.serving.workload import LengthDistribution

    if not isinstance(given, str):
        return given.longest
    try:
        return LengthDistribution.parse(field, given).longest
    except InvalidInputError:
        return None


# How a prompt or output length distribution is written (the parser's, the CLI's and the web's
# help).
LENGTH_FORMS = (
    "N (fixed), fixed:N, uniform:LOW:HIGH, normal:MEAN:STD[:MAX], lognormal:MEDIAN:SIGMA[:MAX] "
    "or empirical:N,N,..."
)
