"""Losses. Each module is imported explicitly so its classes register."""
from .box_losses import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from .cross_entropy import CrossEntropyLoss, resize_logits_to_labels, sigmoid_cross_entropy
from .keypoint_mse import KeypointMSELoss, KeypointOHKMMSELoss, keypoint_mse
from .ohem_cross_entropy import OhemCrossEntropyLoss, select_ohem_pixels
from .rmi_loss import RMILoss, rmi_lower_bound

__all__ = ['KeypointMSELoss', 'KeypointOHKMMSELoss', 'keypoint_mse', 'CrossEntropyLoss',
           'OhemCrossEntropyLoss', 'resize_logits_to_labels', 'select_ohem_pixels', 'L1Loss',
           'SmoothL1Loss', 'l1_loss', 'smooth_l1_loss', 'sigmoid_cross_entropy', 'RMILoss',
           'rmi_lower_bound']
