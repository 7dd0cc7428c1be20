"""pytaaad: a job daemon and a fast Monte Carlo backtest for PyTAAA."""

# The one place the version is written: hatchling reads it from here when it builds.
# A literal rather than importlib.metadata, which costs every pytaaa-ctl call ~40 ms.
__version__ = "0.1.0"

__all__ = ["__version__"]
