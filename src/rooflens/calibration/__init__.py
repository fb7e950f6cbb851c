"""Calibration: fit efficiency profiles from measurements, load and save them, and report how
well predictions match measurements. Pure numpy: no torch here."""

from rooflens.calibration.profile import bundled_profiles, load_profile, save_profile

__all__ = ["bundled_profiles", "load_profile", "save_profile"]
