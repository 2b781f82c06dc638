"""Whole models. Each module is imported explicitly so its classes register."""
from .classifier import ImageClassifier
from .encoder_decoder import EncoderDecoder, slide_windows
from .topdown_pose import TopdownPoseEstimator, flip_heatmaps
from .two_stage import CascadeRCNN, FasterRCNN, TwoStageDetector

__all__ = ['TopdownPoseEstimator', 'flip_heatmaps', 'EncoderDecoder', 'slide_windows',
           'TwoStageDetector', 'FasterRCNN', 'CascadeRCNN', 'ImageClassifier']
