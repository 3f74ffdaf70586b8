"""Output folders for bootstrapped datasets: always new, never mixed with a user's files."""

from __future__ import annotations

from pathlib import Path

from ..fileio import new_folder


def output_folder(out: str | Path) -> Path:
    """``out`` when free or empty, else ``out-2``, ``out-3``…"""
    out = Path(out)
    if out.is_dir() and not any(out.iterdir()):
        return out
    return new_folder(out)


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem-2.ext``… when two source images share a name."""
    target = folder / name
    n = 2
    while target.exists():
        target = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
        n += 1
    return target
