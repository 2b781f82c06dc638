"""Backbones: the one HRNet."""
from .hrnet import ARCH_SETTINGS, HRNet, HighResolutionModule

__all__ = ['ARCH_SETTINGS', 'HRNet', 'HighResolutionModule']
