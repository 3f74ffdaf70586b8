"""The installed package's version, read from its metadata: pyproject.toml alone sets it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("facemask-rcnn")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
