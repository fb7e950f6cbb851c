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

# How a prompt or output length distribution is written (the parser's, the CLI's and the web's
# help).
LENGTH_FORMS = (
    "N (fixed), fixed:N, uniform:LOW:HIGH, normal:MEAN:STD[:MAX], lognormal:MEDIAN:SIGMA[:MAX] "
    "or empirical:N,N,..."
)
