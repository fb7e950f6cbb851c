"""Views of analyses: plots (matplotlib). Nothing here is imported by the core."""
