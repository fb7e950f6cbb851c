"""Views of analyses: plots (matplotlib). Nothing here is imported by the core."""

# The files a figure is written to, by suffix (matplotlib's format follows it); light, so the
# command line checks a path before any work without loading matplotlib.
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
