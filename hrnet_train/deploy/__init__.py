"""Export to ONNX with pre-processing and decoding in the graph, and running the export."""
from .export import build_export_module, export_onnx
from .fuse_bn import fuse_batchnorm

__all__ = ['build_export_module', 'export_onnx', 'fuse_batchnorm']
