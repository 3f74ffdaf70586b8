"""Safe file writing: atomic replace for our own outputs, refuse to replace a user's files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then rename onto ``path``, so a kill never leaves a broken file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_new(path: str | Path, data: Any) -> None:
    """Write JSON atomically to a new file; an existing file raises FileExistsError, untouched."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: already exists; choose another name (nothing overwritten)")
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data)))


def new_folder(out: str | Path, exist_ok: bool = False) -> Path:
    """``out`` if free (or ``exist_ok``), else the first free ``out-2``, ``out-3``…: outputs never
    land in another run's folder."""
    out = Path(out)
    if exist_ok or not out.exists():
        out.mkdir(parents=True, exist_ok=True)
        return out
    n = 2
    while (candidate := out.with_name(f"{out.name}-{n}")).exists():
        n += 1
    candidate.mkdir(parents=True)
    return candidate
