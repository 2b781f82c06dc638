"""Task heads. Each module is imported explicitly so its classes register."""
from .fcn_head import SegHead
from .heatmap_head import HeatmapHead

__all__ = ['HeatmapHead', 'SegHead']
