"""Task heads. Each module is imported explicitly so its classes register."""
from .heatmap_head import HeatmapHead
from .fcn_head import SegHead

__all__ = ['HeatmapHead', 'SegHead']
