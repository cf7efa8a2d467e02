"""How much of a run's CPU time the virtual machine's host took for others (steal).

No setting here controls it and it moves every figure (on the 2-core reference machine
anywhere from 0 to over 50%), so each benchmark prints it beside what it measured.
Linux only: elsewhere the figure is simply left out.
"""

from __future__ import annotations

from pathlib import Path


def cpu_times() -> list[int] | None:
    """The machine's CPU time counters, from the first line of /proc/stat."""
    try:
        return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None


def steal(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of all CPU time between two readings that was stolen, or None."""
    if not before or not after or len(after) <= 7:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(sum(spent), 1)
