"""The synthetic workload a simulation starts from when none is given: `rooflens simulate`'s
defaults, which the web's serving page shares (tests/test_web_serving.py holds the two equal)."""

from __future__ import annotations

REQUESTS = 1000
RATE = 4.0  # requests per second
ARRIVALS = "poisson"
CV = 2.0  # gamma arrivals: coefficient of variation of the gaps
# Gamma gaps of shape 1/cv**2: below 1e-3 the shape overflows (and the gaps are evenly spaced
# anyway: arrivals "fixed"); above 1e3 nearly every gap is zero.
CV_MIN, CV_MAX = 1e-3, 1e3
PROMPT = "lognormal:512:0.8:3072"
OUTPUT = "lognormal:128:0.8:1024"
# Their caps' sum: a model with fewer positions takes shorter caps (default_lengths).
CAPPED_AT = 3072 + 1024


def default_lengths(context: int, prompt: str = PROMPT, output: str = OUTPUT) -> tuple[str, str]:
    """The prompt and output lengths as given, the defaults among them fitted to a model with
    fewer than CAPPED_AT positions (OPT's 2,048, GPT-2's 1,024), which refused its own
    defaults: their caps three quarters and a quarter of its context, their medians no
    higher."""
    if context >= CAPPED_AT:
        return prompt, output
    prompt_cap = context * 3 // 4
    output_cap = context - prompt_cap
    if prompt == PROMPT:
        prompt = f"lognormal:{min(512, prompt_cap)}:0.8:{prompt_cap}"
    if output == OUTPUT:
        output = f"lognormal:{min(128, output_cap)}:0.8:{output_cap}"
    return prompt, output


# How a prompt or output length distribution is written (the parser's, the CLI's and the web's
# help).
LENGTH_FORMS = (
    "N (fixed), fixed:N, uniform:LOW:HIGH, normal:MEAN:STD[:MAX], lognormal:MEDIAN:SIGMA[:MAX] "
    "or empirical:N,N,..."
)
