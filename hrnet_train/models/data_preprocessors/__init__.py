"""Model data preprocessors (normalisation, padding, batching on the device)."""
from .det_data_preprocessor import DetDataPreprocessor
from .seg_data_preprocessor import SegDataPreprocessor

__all__ = ['DetDataPreprocessor', 'SegDataPreprocessor']
