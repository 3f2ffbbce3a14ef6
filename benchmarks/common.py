"""What every benchmark shares: peak memory of this process and the JSON report on stdout and in --out."""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """This process's own peak: ru_maxrss survives exec, so a child started by a big parent would report the
    parent's peak; the kernel's per-address-space high-water mark (VmHWM) starts afresh at exec."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_report(name: str, results: list[dict[str, Any]], out: Path | None) -> None:
    report = {
        "benchmark": name,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    text = json.dumps(report, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    print(text)
