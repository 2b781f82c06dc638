"""What the inference functions return: small dataclasses of numpy arrays in image pixels.

Coordinates are pixels of the original image (before any resizing): keypoints (x, y) with pixel
centres on integers (as :func:`hrnet_train.visualization.draw_pose` draws them), boxes x1, y1, x2,
y2 as COCO boxes (``[0, 0, W, H]`` is the whole W x H image). Every ``to_dict()`` gives plain
Python lists and numbers (what ``tools/demo.py`` writes as JSON).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


def _floats(a: np.ndarray, ndigits: int = 3) -> list:
    return np.round(np.asarray(a, dtype=np.float64), ndigits).tolist()


@dataclass
class PoseResult:
    """One person's pose from a top-down model.

    Attributes:
        keypoints: (K, 2) float32, (x, y) original image pixels, in the order of the dataset's
            keypoints (``model.dataset_meta['keypoint_names']`` when given; COCO: nose first).
        keypoint_scores: (K,) float32, the heatmap maxima (flip-averaged when flip test is on).
        bbox: (4,) float32, the person box x1, y1, x2, y2 in image pixels (the input box).
        bbox_score: the box's detector score (1.0 for given boxes without a score).
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    bbox: np.ndarray
    bbox_score: float = 1.0

    @property
    def pred_keypoints(self) -> np.ndarray:
        """``keypoints``, by the data-sample name of earlier versions."""
        return self.keypoints

    @property
    def pred_keypoint_scores(self) -> np.ndarray:
        """``keypoint_scores``, by the data-sample name of earlier versions."""
        return self.keypoint_scores

    def to_dict(self) -> dict:
        return dict(bbox=_floats(self.bbox, 2), bbox_score=round(float(self.bbox_score), 5),
                    keypoints=_floats(self.keypoints, 2),
                    keypoint_scores=_floats(self.keypoint_scores, 4))


@dataclass
class SegResult:
    """The predicted label map of one image.

    Attributes:
        label_map: (H, W) int64 class indices at the original image size (H x W of the input).
        class_names: one name per class index (``model.dataset_meta['classes']``, else
            ``class_0``, ``class_1``...).
    """

    label_map: np.ndarray
    class_names: tuple[str, ...] = ()

    @property
    def pred_seg_map(self) -> torch.Tensor:
        """The label map as an (H, W) int64 tensor, as the data sample of earlier versions."""
        return torch.from_numpy(self.label_map)

    def class_pixels(self) -> dict[int, int]:
        """{class index: pixel count} of the classes present, by index."""
        ids, counts = np.unique(self.label_map, return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts)}

    def to_dict(self) -> dict:
        """Class names and the pixel count of each class present (not the map itself)."""
        h, w = self.label_map.shape
        present = [dict(label=i, name=self.class_names[i] if 0 <= i < len(self.class_names)
                        else str(i), pixels=c) for i, c in self.class_pixels().items()]
        return dict(height=h, width=w, class_names=list(self.class_names), present=present)


@dataclass
class DetResult:
    """The detected objects of one image, best score first.

    Attributes:
        bboxes: (N, 4) float32 x1, y1, x2, y2 original image pixels.
        scores: (N,) float32 in [0, 1].
        labels: (N,) int64 class indices into ``class_names``.
        class_names: one name per class (``model.dataset_meta['classes']``, else ``class_<i>``).
    """

    bboxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """(N,) the class name of each box."""
        return [self.class_names[i] for i in self.labels.tolist()]

    def to_dict(self) -> dict:
        return dict(bboxes=_floats(self.bboxes, 2), scores=_floats(self.scores, 5),
                    labels=self.labels.tolist(), names=self.names)


@dataclass
class ClsResult:
    """The top-k classes of one image, best first.

    Attributes:
        indices: (k,) int64 class indices.
        names: the k class names (``model.dataset_meta['classes']``, else ``class_<i>``).
        scores: (k,) float32 softmax probabilities.
    """

    indices: np.ndarray
    names: list[str] = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def to_dict(self) -> dict:
        return dict(indices=self.indices.tolist(), names=list(self.names),
                    scores=_floats(self.scores, 5))
