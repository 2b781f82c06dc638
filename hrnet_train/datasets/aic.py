"""AI Challenger keypoints (14 joints, mmpose's COCO-format conversion) for top-down pose."""
from __future__ import annotations

from hrnet_train.registry import DATASETS

from .coco_keypoints import CocoKeypointDataset

# Names as in mmpose's converted json (annotations/aic_{train,val}.json, categories[0]).
_AIC_KEYPOINT_NAMES = (
    'Right Shoulder', 'Right Elbow', 'Right Wrist', 'Left Shoulder', 'Left Elbow', 'Left Wrist',
    'Right Hip', 'Right Knee', 'Right Ankle', 'Left Hip', 'Left Knee', 'Left Ankle', 'Head top',
    'Neck')


@DATASETS.register_module()
class AicDataset(CocoKeypointDataset):
    """AI Challenger 2017 keypoints (Wu et al., 2017), in mmpose's COCO-format conversion.

    Loading, checks and arguments are those of :class:`CocoKeypointDataset`; only the meta
    information differs (open-mmlab/mmpose configs/_base_/datasets/aic.py: flip pairs,
    upper/lower body, joint weights, sigmas). The sigmas are AI Challenger's own
    (AIChallenger/AI_Challenger_2017 Evaluation/keypoint_eval/keypoint_eval.py, delta = 2 x
    sigma), so OKS on AIC is not comparable with COCO's.

    Layout under ``data_root`` (mmpose docs/en/dataset_zoo/2d_body_keypoint.md)::

        annotations/aic_{train,val}.json
        ai_challenger_keypoint_train_20170902/keypoint_train_images_20170902/*.jpg
        ai_challenger_keypoint_validation_20170911/keypoint_validation_images_20170911/*.jpg
    """

    METAINFO: dict = dict(
        dataset_name='aic',
        keypoint_names=list(_AIC_KEYPOINT_NAMES),
        num_keypoints=14,
        flip_indices=[3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8, 12, 13],
        upper_body_ids=[0, 1, 2, 3, 4, 5, 12, 13],
        lower_body_ids=[6, 7, 8, 9, 10, 11],
        joint_weights=[1., 1.2, 1.5, 1., 1.2, 1.5, 1., 1.2, 1.5, 1., 1.2, 1.5, 1., 1.],
        sigmas=[0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144,
                0.03909642, 0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081,
                0.01291456, 0.01236173],
        # mmpose aic.py skeleton_info, 0-based
        skeleton=[[2, 1], [1, 0], [0, 13], [13, 3], [3, 4], [4, 5], [8, 7], [7, 6], [6, 9],
                  [9, 10], [10, 11], [12, 13], [0, 6], [3, 9]],
    )
