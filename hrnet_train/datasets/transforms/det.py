"""Detection annotations into arrays, and detection samples into model inputs.

Boxes are (G, 4) continuous ``x1, y1, x2, y2`` pixels (``hrnet_train.structures``). The
per-box arrays ``gt_bboxes_labels`` and ``gt_ignore_flags`` travel with ``gt_bboxes`` through
``Resize``, ``RandomFlip`` and ``RandomCrop`` (mmdet 3.x names, open-mmlab/mmdetection:
mmdet/datasets/transforms/loading.py ``LoadAnnotations``, formatting.py ``PackDetInputs``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement, InstanceData

from hrnet_train.registry import TRANSFORMS
from hrnet_train.utils.errors import DataError

from .packing import image_to_tensor

_DEFAULT_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                      'flip_direction')


@TRANSFORMS.register_module()
class LoadDetAnnotations(BaseTransform):
    """Turn the dataset's ``instances`` into box, label and ignore-flag arrays.

    Reads:   instances (list of dict(bbox=[x1, y1, x2, y2], bbox_label=int,
             ignore_flag=0|1 (default 0)), from ``CocoDetection``), img_path (for errors)
    Adds:    gt_bboxes (G, 4) float32 continuous xyxy image pixels, gt_bboxes_labels (G,)
             int64, gt_ignore_flags (G,) bool (True for crowd boxes); G may be 0
    """

    def transform(self, results: dict) -> dict:
        if 'instances' not in results:
            raise KeyError('LoadDetAnnotations needs "instances" (the data info of a detection '
                           'dataset such as CocoDetection)')
        instances = results['instances']
        boxes = np.zeros((len(instances), 4), dtype=np.float32)
        labels = np.zeros(len(instances), dtype=np.int64)
        ignore = np.zeros(len(instances), dtype=bool)
        for i, inst in enumerate(instances):
            bbox = np.asarray(inst.get('bbox', ()), dtype=np.float32)
            if bbox.shape != (4,) or 'bbox_label' not in inst:
                raise DataError(f'{results.get("img_path", "sample")}: instance {i} needs bbox '
                                f'[x1, y1, x2, y2] and bbox_label, got {repr(inst)[:80]}')
            boxes[i] = bbox
            labels[i] = int(inst['bbox_label'])
            ignore[i] = bool(inst.get('ignore_flag', 0))
        results['gt_bboxes'] = boxes
        results['gt_bboxes_labels'] = labels
        results['gt_ignore_flags'] = ignore
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


def _instances(boxes: np.ndarray, labels: np.ndarray) -> InstanceData:
    data = InstanceData()
    data.bboxes = torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32).reshape(-1, 4))
    data.labels = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64).reshape(-1))
    return data


@TRANSFORMS.register_module()
class PackDetInputs(BaseTransform):
    """Pack a detection sample for the model.

    Reads:   img (H, W, 3) uint8, gt_bboxes (G, 4) with gt_bboxes_labels (G,) (optional),
             gt_ignore_flags (G,) bool (optional; absent: no box is ignored), meta_keys (those
             present; see below)
    Returns: dict(inputs=(3, H, W) uint8 tensor, data_samples=BaseDataElement) with
             - metainfo: the present ``meta_keys``; ``flip`` (False), ``flip_direction``
               (None), ``img_shape`` (the image's (H, W)) and ``scale_factor``
               (img_shape / ori_shape as (w, h)) get those defaults when a listed key is absent;
             - gt_instances: InstanceData ``bboxes`` (G', 4) float32 tensor in img_shape pixels
               and ``labels`` (G',) int64 of the boxes not flagged ignore;
             - ignored_instances: the same fields for the flagged (crowd) boxes.
             Both are present, with (0, 4) / (0,) tensors, when there are no such boxes (also
             when the pipeline has no ``LoadDetAnnotations``, e.g. at inference).

    Args:
        meta_keys: the keys copied into the data sample's metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = _DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def _metainfo(self, results: dict) -> dict:
        meta = {k: results[k] for k in self.meta_keys if k in results}
        img_shape = tuple(results.get('img_shape', results['img'].shape[:2]))
        defaults = dict(flip=False, flip_direction=None, img_shape=img_shape)
        if 'ori_shape' in results:
            ori_h, ori_w = results['ori_shape'][:2]
            defaults['scale_factor'] = (img_shape[1] / ori_w, img_shape[0] / ori_h)
        for key, value in defaults.items():
            if key in self.meta_keys and key not in meta:
                meta[key] = value
        return meta

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError('PackDetInputs needs "img"')
        if 'gt_bboxes' in results and 'gt_bboxes_labels' not in results:
            raise KeyError('PackDetInputs: gt_bboxes without gt_bboxes_labels '
                           '(LoadDetAnnotations adds both)')
        boxes = np.asarray(results.get('gt_bboxes', np.zeros((0, 4))), dtype=np.float32)
        boxes = boxes.reshape(-1, 4)
        labels = np.asarray(results.get('gt_bboxes_labels', np.zeros(0)), dtype=np.int64)
        # no flags: every box counts (mmdet)
        ignore = np.asarray(results.get('gt_ignore_flags', np.zeros(len(boxes))), dtype=bool)
        if not len(labels) == len(ignore) == len(boxes):
            raise ValueError(f'PackDetInputs: gt_bboxes, gt_bboxes_labels and gt_ignore_flags '
                             f'have {len(boxes)}, {len(labels)} and {len(ignore)} entries '
                             f'(expected one per box)')
        sample = BaseDataElement(metainfo=self._metainfo(results))
        sample.gt_instances = _instances(boxes[~ignore], labels[~ignore])
        sample.ignored_instances = _instances(boxes[ignore], labels[ignore])
        return dict(inputs=image_to_tensor(results['img']), data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
