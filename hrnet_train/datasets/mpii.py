"""MPII Human Pose in the official HRNet json format, for top-down pose: one sample per person.

Source of the conventions: leoxiaobin/deep-high-resolution-net.pytorch:lib/dataset/mpii.py
(``_get_db``); meta information as open-mmlab/mmpose:configs/_base_/datasets/mpii.py.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.fileio import join_path

from hrnet_train.registry import DATASETS, TRANSFORMS
from hrnet_train.utils.errors import DataError

from .coco_keypoints import CocoKeypointDataset
from .paths import data_root_hint

# MPII order (official lib/dataset/mpii.py, mmpose mpii.py keypoint_info).
_MPII_KEYPOINT_NAMES = (
    'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle', 'pelvis',
    'thorax', 'upper_neck', 'head_top', 'right_wrist', 'right_elbow', 'right_shoulder',
    'left_shoulder', 'left_elbow', 'left_wrist')
# mmpose mpii.py skeleton_info, as 0-based index pairs.
_MPII_SKELETON = ((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12),
                  (12, 11), (11, 10), (8, 13), (13, 14), (14, 15))
PIXEL_STD = 200.  # MPII ``scale`` is the person height in units of 200 px (official pixel_std)


def mpii_center_scale(center: Sequence[float], scale: float) -> tuple[np.ndarray, float]:
    """The official crop of one MPII person (lib/dataset/mpii.py ``_get_db``).

    Unless ``center[0] == -1`` (no annotated position), the centre moves down by ``15 * scale``
    pixels and the scale grows by 1.25 "to avoid cropping limbs"; then the centre goes from
    MATLAB 1-based to 0-based pixels (-1), also when it is -1.

    Args:
        center: (2,) annotation ``center`` (x, y), MATLAB 1-based image pixels.
        scale: annotation ``scale``, person height / 200 px.

    Returns:
        center: (2,) float64, 0-based image pixels; size: the side of the square crop in pixels
        (official ``scale * 200``).
    """
    c = np.array(center, dtype=np.float64)
    s = float(scale)
    if c[0] != -1:
        c[1] = c[1] + 15 * s
        s = s * 1.25
    return c - 1, s * PIXEL_STD


@DATASETS.register_module()
class MPIIDataset(CocoKeypointDataset):
    """MPII Human Pose, official HRNet layout ``annot/{train,valid}.json`` + ``images/``.

    ``ann_file`` holds a list of ``{image, center (2,), scale, joints (16, 2), joints_vis (16,)}``
    (MATLAB 1-based pixels; ``joints`` and ``joints_vis`` may be absent, as in the official
    ``test.json``: the person then has no labelled joint). Each entry becomes one sample whose
    ``id`` is its index in the file (``MpiiPCKhMetric`` matches predictions to the GT by it) and
    whose keys are those of :class:`CocoKeypointDataset` (``docs/architecture.md``):
    ``keypoints`` (16, 2) float32 0-based image pixels (official ``joints - 1``),
    ``keypoints_visible`` (16,) float32 (``joints_vis > 0``), and ``bbox`` (4,) x1, y1, x2, y2
    such that the pipeline's ``GetBBoxCenterScale(padding=bbox_padding)`` yields exactly the
    official centre and scale of :func:`mpii_center_scale` (a square; its side x ``bbox_padding``
    is the official ``scale * 200``).

    Checks (``DataError``, one line naming the file): ``data_root`` and the image folder exist;
    ``ann_file`` exists, is JSON and a non-empty list; every entry has ``image``, a finite
    ``center`` of 2 numbers, a ``scale`` > 0, and if present 16 ``joints`` (x, y) and 16
    ``joints_vis``.

    Args:
        ann_file: ``annot/train.json`` or ``annot/valid.json``, joined with ``data_root``.
        metainfo: overrides of :attr:`METAINFO` (see :func:`parse_pose_metainfo`).
        data_root: the dataset folder (official ``data/mpii/``).
        data_prefix: ``dict(img='images/')``; image paths are ``folder/<image>``.
        pipeline, test_mode: as :class:`CocoKeypointDataset`.
        gt_file: evaluation GT for ``MpiiPCKhMetric`` (official ``annot/gt_valid.mat``, or a JSON
            head-box file), joined with ``data_root`` and put into ``metainfo['gt_file']``.
        bbox_padding: the ``padding`` of the pipeline's ``GetBBoxCenterScale`` (1.25 in every
            config). The official 1.25 enlargement is that padding; the persons without a centre
            (``center[0] == -1``), which the official code does not enlarge, get a box divided
            by it.
        serialize_data, lazy_init, indices, max_refetch: as mmengine ``BaseDataset``.
    """

    METAINFO: dict = dict(
        dataset_name='mpii',
        keypoint_names=list(_MPII_KEYPOINT_NAMES),
        num_keypoints=16,
        # official flip_pairs (0,5), (1,4), (2,3), (10,15), (11,14), (12,13)
        flip_indices=[5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10],
        # official lib/dataset/mpii.py (half-body is off in the official MPII recipe)
        upper_body_ids=[7, 8, 9, 10, 11, 12, 13, 14, 15],
        lower_body_ids=[0, 1, 2, 3, 4, 5, 6],
        # mmpose mpii.py; the official code has none (JointsDataset.joints_weight = 1) and only
        # GenerateTarget(use_dataset_keypoint_weights=True) reads them
        joint_weights=[1.5, 1.2, 1., 1., 1.2, 1.5, 1., 1., 1., 1., 1.5, 1.2, 1., 1., 1.2, 1.5],
        # mmpose mpii.py "adapted from COCO"; only OKS-NMS / OKS metrics read them
        sigmas=[0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062,
                0.072, 0.179, 0.179, 0.072, 0.062],
        skeleton=[list(p) for p in _MPII_SKELETON],
    )

    def __init__(self, ann_file: str = '', metainfo: Mapping | None = None,
                 data_root: str = '', data_prefix: Mapping | None = None,
                 pipeline: Sequence = (), test_mode: bool = False, *,
                 gt_file: str | None = None, bbox_padding: float = 1.25,
                 serialize_data: bool = True, lazy_init: bool = False,
                 indices: int | Sequence[int] | None = None, max_refetch: int = 1000) -> None:
        data_prefix = dict(img='images/') if data_prefix is None else dict(data_prefix)
        if 'img' not in data_prefix:
            raise ValueError(f'data_prefix needs key "img" (image folder), got {data_prefix}')
        if not ann_file:
            raise ValueError('ann_file is required (annot/train.json or annot/valid.json)')
        if bbox_padding <= 0:
            raise ValueError(f'bbox_padding must be > 0, got {bbox_padding}')
        if gt_file and data_root and not os.path.isabs(gt_file):
            gt_file = join_path(data_root, gt_file)
        self.gt_file = gt_file
        self.bbox_padding = float(bbox_padding)
        # attributes CocoKeypointDataset's methods read; MPII has no detector boxes
        self.bbox_file, self.use_gt_bbox, self.skip_invalid = None, True, False
        pipeline = [TRANSFORMS.build(dict(t)) if isinstance(t, Mapping) else t for t in pipeline]
        BaseDataset.__init__(
            self, ann_file=ann_file, metainfo=metainfo, data_root=data_root,
            data_prefix=data_prefix, pipeline=pipeline, test_mode=test_mode,
            serialize_data=serialize_data, lazy_init=lazy_init, indices=indices,
            max_refetch=max_refetch)
        self._metainfo['ann_file'] = self.ann_file
        self._metainfo['gt_file'] = self.gt_file

    def load_data_list(self) -> list[dict]:
        if self.data_root and not os.path.isdir(self.data_root):
            raise DataError(f'data_root {self.data_root} does not exist (a folder)')
        img_dir = self.data_prefix['img']
        if img_dir and not os.path.isdir(img_dir):
            raise DataError(f'image folder {img_dir} (data_prefix img) does not exist')
        try:
            with open(self.ann_file) as f:
                anns = json.load(f)
        except FileNotFoundError:
            raise DataError(f'annotation file {self.ann_file} does not exist'
                            + data_root_hint(self.ann_file, self.data_root)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f'annotation file {self.ann_file} is not JSON: {exc}') from None
        if not isinstance(anns, list) or not anns:
            raise DataError(f'annotation file {self.ann_file} must hold a non-empty list of '
                            'persons {image, center, scale, joints, joints_vis} (MPII format)')
        return [self._parse_entry(i, ann, img_dir) for i, ann in enumerate(anns)]

    def _parse_entry(self, index: int, ann, img_dir: str) -> dict:
        where = f'annotation file {self.ann_file}: entry {index}'
        if not isinstance(ann, Mapping):
            raise DataError(f'{where} is {str(ann)[:60]}, expected an object')
        missing = [k for k in ('image', 'center', 'scale') if k not in ann]
        if missing:
            raise DataError(f'{where} lacks {missing}')
        try:
            center = np.asarray(ann['center'], dtype=np.float64)
            scale = float(ann['scale'])
        except (TypeError, ValueError):
            raise DataError(f'{where}: center {str(ann["center"])[:40]} and scale '
                            f'{str(ann["scale"])[:20]} must be numbers') from None
        if center.shape != (2,) or not np.isfinite(center).all():
            raise DataError(f'{where}: center is {ann["center"]}, expected 2 finite numbers')
        if not np.isfinite(scale) or scale <= 0:
            raise DataError(f'{where}: scale is {ann["scale"]}, expected a number > 0')
        num = self._metainfo['num_keypoints']
        keypoints = np.zeros((num, 2), dtype=np.float32)
        visible = np.zeros(num, dtype=np.float32)
        if 'joints' in ann:
            try:
                joints = np.asarray(ann['joints'], dtype=np.float64)
                vis = np.asarray(ann.get('joints_vis', np.ones(len(joints))), dtype=np.float64)
            except (TypeError, ValueError):
                raise DataError(f'{where}: joints and joints_vis must be numbers') from None
            if joints.shape != (num, 2):
                raise DataError(f'{where} has joints of shape {joints.shape}, expected ({num}, 2) '
                                f'(num_keypoints={num})')
            if vis.shape != (num,):
                raise DataError(f'{where} has joints_vis of shape {vis.shape}, expected ({num},)')
            if not np.isfinite(joints).all():
                raise DataError(f'{where} has non-finite joints')
            keypoints = (joints - 1).astype(np.float32)  # MATLAB 1-based -> 0-based
            visible = (vis > 0).astype(np.float32)
        c, crop = mpii_center_scale(center, scale)
        # The pipeline multiplies the box by bbox_padding: hand it the official crop / padding,
        # so a centre-less person (no official 1.25) also gets exactly the official crop.
        size = crop / self.bbox_padding
        half = size / 2
        image = str(ann['image'])
        stem = os.path.splitext(os.path.basename(image))[0]
        return dict(
            img_path=join_path(img_dir, image), img_id=int(stem) if stem.isdigit() else stem,
            id=index, category_id=1,
            bbox=np.array([c[0] - half, c[1] - half, c[0] + half, c[1] + half], dtype=np.float32),
            bbox_score=1.0, keypoints=keypoints, keypoints_visible=visible,
            area=float(size * size), iscrowd=0, num_keypoints=int(visible.sum()))
