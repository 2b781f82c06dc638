"""Datasets and transforms."""
from . import transforms  # noqa: F401
from .ade20k import ADE20KDataset  # noqa: F401
from .aic import AicDataset  # noqa: F401
from .cityscapes import CLASS_WEIGHTS, CityscapesDataset  # noqa: F401
from .coco_detection import CocoDetection, make_palette  # noqa: F401
from .coco_keypoints import CocoKeypointDataset, parse_pose_metainfo  # noqa: F401
from .combined import CombinedDataset  # noqa: F401
from .crowdpose import CrowdPoseDataset  # noqa: F401
from .image_folder import ImageFolderDataset  # noqa: F401
from .lip import LIPDataset  # noqa: F401
from .mpii import MPIIDataset  # noqa: F401
from .ochuman import OCHumanDataset  # noqa: F401
from .pascal_context import PascalContextDataset, PascalContextDataset60  # noqa: F401
from .seg_folder import SegFolderDataset  # noqa: F401
from .seg_labels import CITYSCAPES_LABEL_TABLE, build_label_table, convert_label_ids  # noqa: F401
