"""Metrics. Each module is imported explicitly so its classes register."""
from .accuracy import Accuracy  # noqa: F401
from .coco_det_metric import CocoDetMetric  # noqa: F401
from .coco_keypoint_metric import CocoKeypointMetric  # noqa: F401
from .crowdpose_metric import CrowdPoseMetric  # noqa: F401
from .iou_metric import IoUMetric  # noqa: F401
from .keypoint_error_metrics import EPE, NME  # noqa: F401
from .mpii_pckh_metric import MpiiPCKhMetric  # noqa: F401
from .pck_accuracy import AUC, PCKAccuracy  # noqa: F401
