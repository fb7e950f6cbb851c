"""The files rooflens writes figures to, by suffix: light, so that the command line checks a
path before any work without loading matplotlib, and the views write what it accepted."""

from __future__ import annotations

# matplotlib's format follows the suffix.
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
