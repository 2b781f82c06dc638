"""Model data preprocessors (normalisation, padding, batching on the device)."""
from .seg_data_preprocessor import SegDataPreprocessor

__all__ = ['SegDataPreprocessor']
