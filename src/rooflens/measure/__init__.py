"""Measurement on real hardware (needs the `measure` extra: torch and transformers).

Nothing here is imported by the core; the core never imports torch.
"""
