"""Metrics. Each module is imported explicitly so its classes register."""
from .coco_keypoint_metric import CocoKeypointMetric  # noqa: F401
from .iou_metric import IoUMetric  # noqa: F401
from .pck_accuracy import PCKAccuracy  # noqa: F401
