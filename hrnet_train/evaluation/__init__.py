"""Metrics (mmengine BaseMetric) and the pure functions behind them."""
from . import functional, metrics  # noqa: F401
