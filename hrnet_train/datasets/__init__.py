"""Datasets and transforms."""
from . import transforms  # noqa: F401
from .cityscapes import CLASS_WEIGHTS, CityscapesDataset  # noqa: F401
from .coco_detection import CocoDetection, make_palette  # noqa: F401
from .coco_keypoints import CocoKeypointDataset, parse_pose_metainfo  # noqa: F401
from .image_folder import ImageFolderDataset  # noqa: F401
from .seg_folder import SegFolderDataset  # noqa: F401
from .seg_labels import CITYSCAPES_LABEL_TABLE, build_label_table, convert_label_ids  # noqa: F401
