"""Detection helpers registered in ``TASK_UTILS``: anchors, box coder, assigner, sampler.

Each module is imported explicitly so its classes register.
"""
from .anchor_generator import (
    AnchorGenerator,
    anchor_inside_flags,
    make_base_anchors,
    shift_base_anchors,
    valid_anchor_flags,
)
from .assigner import AssignResult, MaxIoUAssigner, assign_by_overlaps, box_iof, legacy_box_iou
from .box_coder import DeltaXYWHBBoxCoder, decode_box_deltas, encode_box_deltas
from .sampler import RandomSampler, SamplingResult, sample_random_indices

__all__ = [
    'AnchorGenerator', 'anchor_inside_flags', 'make_base_anchors', 'shift_base_anchors',
    'valid_anchor_flags', 'AssignResult', 'MaxIoUAssigner', 'assign_by_overlaps', 'box_iof',
    'legacy_box_iou', 'DeltaXYWHBBoxCoder', 'decode_box_deltas', 'encode_box_deltas',
    'RandomSampler', 'SamplingResult', 'sample_random_indices',
]
