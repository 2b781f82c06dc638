"""Task heads. Each module is imported explicitly so its classes register."""
from .cls_head import HRNetClsHead
from .fcn_head import SegHead
from .heatmap_head import HeatmapHead
from .ocr_head import OCRHead
from .rpn_head import RPNHead

__all__ = ['HRNetClsHead', 'HeatmapHead', 'OCRHead', 'RPNHead', 'SegHead']
