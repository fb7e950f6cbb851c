"""What a measurement ran on: device, driver and library versions."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from typing import Any


def _driver() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "n/a"


def describe(device: str) -> dict[str, Any]:
    import numpy
    import torch
    import transformers

    info: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "host": platform.processor() or platform.machine(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info |= {
            "device_name": props.name,
            "memory_bytes": props.total_memory,
            "multiprocessors": props.multi_processor_count,
            "cuda": torch.version.cuda,
            "driver": _driver(),
        }
    else:
        info |= {"device_name": f"CPU ({info['host']})", "threads": torch.get_num_threads()}
    return info
