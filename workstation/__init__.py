"""SIRT (90Y) dosimetry and ablation-margin imaging workstation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("workstation")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = ["__version__"]
