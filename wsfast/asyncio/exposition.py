"""The Prometheus text format (version 0.0.4) of ``stats.samples``, with no dependency.

``serve(..., metrics=True)`` answers ``GET /metrics`` with ``render(...)``; under
``run_workers`` the answering worker first gathers its siblings' samples
(``wsfast.asyncio.workers``) so that one scrape gives the whole server.
"""
from __future__ import annotations

from typing import Iterable

from .stats import METRICS, Sample, family

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(samples: Iterable[Sample]) -> bytes:
    """``# HELP`` and ``# TYPE`` once per metric, then its samples, one per line."""
    lines: list[str] = []
    seen: set[str] = set()
    for name, labels, value in samples:
        metric = family(name)
        if metric not in seen:
            seen.add(metric)
            kind, help_ = METRICS[metric]
            lines.append(f"# HELP {metric} {_escape_help(help_)}")
            lines.append(f"# TYPE {metric} {kind}")
        if labels:
            inner = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels)
            lines.append(f"{name}{{{inner}}} {_value(value)}")
        else:
            lines.append(f"{name} {_value(value)}")
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def _value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
