"""RoI heads of the two-stage detectors: RoI feature extraction, the box head, Faster R-CNN's
``StandardRoIHead`` and ``CascadeRoIHead``. Each module is imported so its classes register."""
from .bbox_head import (
    Shared2FCBBoxHead,
    compute_accuracy,
    compute_roi_targets,
    multiclass_nms,
    select_class_deltas,
)
from .cascade_roi_head import CascadeRoIHead
from .roi_extractor import SingleRoIExtractor, boxes_to_rois, map_roi_levels
from .standard_roi_head import StandardRoIHead

__all__ = [
    'Shared2FCBBoxHead', 'compute_accuracy', 'compute_roi_targets', 'multiclass_nms',
    'select_class_deltas', 'CascadeRoIHead', 'SingleRoIExtractor', 'boxes_to_rois',
    'map_roi_levels', 'StandardRoIHead',
]
