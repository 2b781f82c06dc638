"""hrnet-train: HRNet for pose estimation, segmentation, detection and classification."""
__version__ = '0.1.0'
