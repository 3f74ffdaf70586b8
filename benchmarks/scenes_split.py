"""Write the four fifths of ``facemask-scenes`` that the benchmarks never test on, as a COCO
file of face boxes (with a link to the images beside it), and print its path.

    .venv/bin/python benchmarks/scenes_split.py OUT_FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

from accuracy import scenes_training_file

if __name__ == "__main__":
    print(scenes_training_file(Path(sys.argv[1]).resolve()))
