"""Keypoint codecs: keypoints <-> heatmaps. The maths lives in ``functional.py``."""
from .msra_heatmap import MSRAHeatmap
from .udp_heatmap import UDPHeatmap

__all__ = ['MSRAHeatmap', 'UDPHeatmap']
