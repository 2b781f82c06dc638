"""Losses. Each module is imported explicitly so its classes register."""
from .cross_entropy import CrossEntropyLoss, resize_logits_to_labels
from .keypoint_mse import KeypointMSELoss, KeypointOHKMMSELoss, keypoint_mse
from .ohem_cross_entropy import OhemCrossEntropyLoss, select_ohem_pixels

__all__ = ['KeypointMSELoss', 'KeypointOHKMMSELoss', 'keypoint_mse', 'CrossEntropyLoss',
           'OhemCrossEntropyLoss', 'resize_logits_to_labels', 'select_ohem_pixels']
