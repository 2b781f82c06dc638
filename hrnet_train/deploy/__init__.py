"""Export to ONNX with pre-processing and decoding in the graph, and running the export."""
from hrnet_train.models.utils.fuse_bn import fuse_batchnorm

from .export import build_export_module, export_onnx

__all__ = ['build_export_module', 'export_onnx', 'fuse_batchnorm']
