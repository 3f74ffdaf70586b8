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
