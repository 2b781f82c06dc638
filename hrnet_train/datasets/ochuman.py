"""OCHuman (occluded humans) in COCO format: evaluation of COCO-trained top-down models."""
from __future__ import annotations

from hrnet_train.registry import DATASETS

from .coco_keypoints import CocoKeypointDataset


@DATASETS.register_module()
class OCHumanDataset(CocoKeypointDataset):
    """OCHuman (Zhang et al., Pose2Seg, CVPR 2019): COCO's 17 keypoints on heavily occluded people.

    Everything, meta information included, is :class:`CocoKeypointDataset`'s; OCHuman has no
    training split, it is a val/test benchmark for COCO-trained models (mmpose
    ``OCHumanDataset`` likewise only renames COCO's metainfo).

    Layout under ``data_root`` (liruilong940607/OCHumanApi release, as in mmpose
    docs/en/dataset_zoo/2d_body_keypoint.md)::

        annotations/ochuman_coco_format_{val,test}_range_0.00_1.00.json
        images/000001.jpg ...
    """

    METAINFO: dict = dict(CocoKeypointDataset.METAINFO, dataset_name='ochuman')
