"""pytaaad: a job daemon and a fast Monte Carlo backtest for PyTAAA."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytaaad")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
