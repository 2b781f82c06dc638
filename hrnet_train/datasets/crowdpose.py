"""CrowdPose keypoints (14 joints, COCO-format json) for top-down pose estimation."""
from __future__ import annotations

import math

from hrnet_train.registry import DATASETS

from .coco_keypoints import CocoKeypointDataset
from .coco_utils import load_coco_json

# Names as in the CrowdPose json categories[0]['keypoints'] (Jeff-sjtu/CrowdPose annotations;
# mmpose calls joint 12 'top_head').
_CROWDPOSE_KEYPOINT_NAMES = (
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle', 'head',
    'neck')
# OKS sigmas: Jeff-sjtu/CrowdPose crowdpose-api/PythonAPI/crowdposetools/cocoeval.py computeOks
# (the COCO body sigmas, head and neck taking the shoulders' .79).
_CROWDPOSE_SIGMAS = (.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79)


@DATASETS.register_module()
class CrowdPoseDataset(CocoKeypointDataset):
    """CrowdPose (Li et al., CVPR 2019): COCO-format json with 14 keypoints per person.

    Loading, checks and arguments are those of :class:`CocoKeypointDataset`; only the
    meta information differs. Each instance also carries ``crowd_index`` (float), its image's
    ``crowdIndex`` from the json ``images`` entry (NaN when absent); :class:`CrowdPoseMetric`
    buckets images by the same field, read from the annotation file.

    Layout under ``data_root`` (official release, as HigherHRNet and DEKR use it)::

        images/100000.jpg ...
        json/crowdpose_{train,val,trainval,test}.json
        json/det_for_crowd_test_0.1_0.5.json   # mmpose's YOLOv3 boxes for the test split

    Meta information: open-mmlab/mmpose configs/_base_/datasets/crowdpose.py (flip pairs,
    upper/lower body, joint weights) and crowdposetools cocoeval.py (sigmas). The joint weights
    are mmpose's list as it stands; they only act with ``GenerateTarget(
    use_dataset_keypoint_weights=True)``, off in every config here and in mmpose.
    """

    METAINFO: dict = dict(
        dataset_name='crowdpose',
        keypoint_names=list(_CROWDPOSE_KEYPOINT_NAMES),
        num_keypoints=14,
        flip_indices=[1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13],
        upper_body_ids=[0, 1, 2, 3, 4, 5, 12, 13],
        lower_body_ids=[6, 7, 8, 9, 10, 11],
        joint_weights=[0.2, 0.2, 0.2, 1.3, 1.5, 0.2, 1.3, 1.5, 0.2, 0.2, 0.5, 0.2, 0.2, 0.5],
        sigmas=[s / 10 for s in _CROWDPOSE_SIGMAS],
        # mmpose crowdpose.py skeleton_info, 0-based
        skeleton=[[10, 8], [8, 6], [11, 9], [9, 7], [6, 7], [0, 6], [1, 7], [0, 1], [0, 2],
                  [1, 3], [2, 4], [3, 5], [12, 13], [1, 13], [0, 13]],
    )

    def load_data_list(self) -> list[dict]:
        data_list = super().load_data_list()
        # The base loader keeps only path and size per image; crowdIndex is read here (a second
        # json parse, paid once per dataset build).
        images = load_coco_json(self.ann_file, 'annotation file', self.data_root)['images']
        crowd = {img['id']: img.get('crowdIndex') for img in images}
        for info in data_list:
            value = crowd.get(info['img_id'])
            info['crowd_index'] = math.nan if value is None else float(value)
        return data_list
