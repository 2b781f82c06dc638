"""Backbones: the one HRNet."""
from .hrnet import ARCH_SETTINGS, HighResolutionModule, HRNet

__all__ = ['ARCH_SETTINGS', 'HRNet', 'HighResolutionModule']
