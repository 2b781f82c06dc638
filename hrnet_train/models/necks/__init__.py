"""Necks: representations built on the backbone branches."""
from .hrnetv2_concat import HRNetV2Concat

__all__ = ['HRNetV2Concat']
