"""Every module imports on its own in a fresh interpreter: no import circle hides behind another
module having been imported first."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import facemask_rcnn

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(facemask_rcnn.__path__, "facemask_rcnn.")
    if not name.endswith("__main__")
)


@pytest.mark.slow
def test_each_module_imports_alone():
    def alone(name: str) -> tuple[str, str]:
        run = subprocess.run(
            [sys.executable, "-c", f"import {name}"], capture_output=True, text=True
        )
        return name, run.stderr.strip().splitlines()[-1] if run.returncode else ""

    with ThreadPoolExecutor(2) as pool:
        failed = {name: error for name, error in pool.map(alone, MODULES) if error}
    assert len(MODULES) > 60 and failed == {}
