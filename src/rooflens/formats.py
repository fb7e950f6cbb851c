"""How rooflens names what it writes, shared by the command line and the views: the files a
figure is written to, and an operator's label. Light, so that the command line checks a path
before any work without loading matplotlib."""

from __future__ import annotations

# matplotlib's format follows the suffix.
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def operator_label(name: str, span: int | None = None, chunk: int | None = None) -> str:
    """'flash_attention (≤1,024 keys)', 'qk_matmul (chunks of 8,192)': which attention an
    operator row is where a model has layers of each (Gemma 3's window and global layers list
    attention twice); the name alone elsewhere."""
    return (
        name + (f" (≤{span:,} keys)" if span else "") + (f" (chunks of {chunk:,})" if chunk else "")
    )
