"""Whole models. Each module is imported explicitly so its classes register."""
from .topdown_pose import TopdownPoseEstimator, flip_heatmaps, keypoints_to_image
from .encoder_decoder import EncoderDecoder, slide_windows

__all__ = ['TopdownPoseEstimator', 'flip_heatmaps', 'keypoints_to_image', 'EncoderDecoder', 'slide_windows']
