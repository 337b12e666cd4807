"""What training uses of the machine right now: the fields of a `resources` event (engine/runs/events.py).

Written as events at every log point, so a finished run keeps its memory and utilisation over time and its
peak can be quoted in the run summary and the model card.
"""
from __future__ import annotations

import resource
import sys

MB = 1024**2


class ResourceSampler:
    """Measures this process: CPU resident memory (now and peak), CPU use since the last sample, and per GPU
    the memory PyTorch has allocated, reserved and peaked at, and the device's utilisation when NVML says."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first call starts the clock; later ones measure since the last

    def sample(self) -> dict:
        return {
            "cpu_rss_mb": round(self.process.memory_info().rss / MB, 1),
            "cpu_peak_rss_mb": round(_peak_rss_bytes() / MB, 1),
            "cpu_percent": self.process.cpu_percent(None),
            "gpus": gpu_memory(),
        }


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts kilobytes, macOS bytes


def gpu_memory() -> list[dict]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [{
        "device": index,
        "allocated_mb": round(torch.cuda.memory_allocated(index) / MB, 1),
        "reserved_mb": round(torch.cuda.memory_reserved(index) / MB, 1),
        "peak_mb": round(torch.cuda.max_memory_allocated(index) / MB, 1),
        "utilization": _utilization(index),
    } for index in range(torch.cuda.device_count())]


def _utilization(index: int) -> int | None:
    import torch

    try:
        return torch.cuda.utilization(index)
    except Exception:  # NVML (pynvml) missing or unsupported: memory is still worth recording
        return None
