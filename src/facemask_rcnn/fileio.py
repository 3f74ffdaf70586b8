"""Safe file writing: atomic replace for our own outputs, refuse to replace a user's files.

Every file the package writes goes through ``atomic_write`` (directly, or by ``write_json``,
``write_text`` and ``save_image``): a kill or a full disk never leaves half a file behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image


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


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data: Any, indent: int | None = None) -> None:
    """Write JSON atomically (an output of ours: replaced if there)."""
    write_text(path, json.dumps(data, indent=indent))


def write_json_new(path: str | Path, data: Any) -> None:
    """Write JSON atomically to a new file; an existing file raises FileExistsError, untouched."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: already exists; choose another name (nothing overwritten)")
    write_json(path, data)


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as CSV atomically; the columns are every key, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def save_image(image: Image.Image, path: str | Path, **options: Any) -> None:
    """Save a PIL image atomically, in the format its suffix names (``options``: e.g. quality)."""
    kind = Image.registered_extensions()[Path(path).suffix.lower()]
    atomic_write(path, lambda tmp: image.save(tmp, format=kind, **options))


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
