"""Data transforms. Each module is imported explicitly so its classes register."""
from .bbox import GetBBoxCenterScale
from .cls import CenterCrop, PackClsInputs, RandomResizedCrop, ResizeEdge
from .det import LoadDetAnnotations, PackDetInputs
from .flip import RandomFlip
from .keypoint_converter import KeypointConverter  # noqa: F401
from .loading import LoadImage, read_image
from .packing import PackPoseInputs
from .seg import (
                  LoadSegAnnotation,
                  PhotoMetricDistortion,
                  RandomCrop,
                  RandomResize,
                  Resize,
                  read_seg_map,
)
from .seg_packing import PackSegInputs
from .topdown import GenerateTarget, RandomBBoxTransform, RandomHalfBody, TopdownAffine

__all__ = [
    'LoadImage', 'read_image',
    'LoadSegAnnotation', 'RandomResize', 'Resize', 'RandomCrop', 'PhotoMetricDistortion',
    'PackSegInputs', 'read_seg_map',
    'GetBBoxCenterScale', 'RandomFlip', 'RandomHalfBody', 'RandomBBoxTransform', 'TopdownAffine',
    'GenerateTarget', 'PackPoseInputs', 'LoadDetAnnotations', 'PackDetInputs',
    'CenterCrop', 'PackClsInputs', 'RandomResizedCrop', 'ResizeEdge']
