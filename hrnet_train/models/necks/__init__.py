"""Necks: representations built on the backbone branches."""
from .hrfpn import HRFPN
from .hrnetv2_concat import HRNetV2Concat

__all__ = ['HRFPN', 'HRNetV2Concat']
