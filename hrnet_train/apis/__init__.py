"""Python inference API (docs/inference.md)."""
from .inference import (
    inference,
    inference_classifier,
    inference_detector,
    inference_segmentor,
    inference_topdown,
    init_model,
    load_image,
    model_task,
)
from .results import ClsResult, DetResult, PoseResult, SegResult

__all__ = ['ClsResult', 'DetResult', 'PoseResult', 'SegResult', 'inference',
           'inference_classifier', 'inference_detector', 'inference_segmentor',
           'inference_topdown', 'init_model', 'load_image', 'model_task']
