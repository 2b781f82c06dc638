"""Python inference API."""
from .inference import inference_segmentor, inference_topdown, init_model

__all__ = ['inference_segmentor', 'inference_topdown', 'init_model']
