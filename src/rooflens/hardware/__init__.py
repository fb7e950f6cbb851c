"""Hardware catalog: bundled devices (devices/*.toml) and user-defined ones."""

from rooflens.hardware.catalog import catalog, device_from_dict, get_device, load_device_file

__all__ = ["catalog", "device_from_dict", "get_device", "load_device_file"]
