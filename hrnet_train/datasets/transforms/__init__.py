"""Data transforms. Each module is imported explicitly so its classes register."""
from .loading import LoadImage, read_image

__all__ = ['LoadImage', 'read_image']
