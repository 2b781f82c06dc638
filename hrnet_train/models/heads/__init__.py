"""Task heads. Each module is imported explicitly so its classes register."""
from .fcn_head import SegHead
from .heatmap_head import HeatmapHead
from .rpn_head import RPNHead

__all__ = ['HeatmapHead', 'RPNHead', 'SegHead']
