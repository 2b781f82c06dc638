"""Reading data samples in either form mmengine hands them around."""
from __future__ import annotations

from typing import Any


def get_sample_field(sample: Any, key: str, default: Any = None) -> Any:
    """A data field or metainfo key of a data sample.

    Args:
        sample: an ``mmengine.structures.BaseDataElement`` (hooks see these) or the flat dict
            that mmengine's evaluator passes to ``BaseMetric.process`` (``to_dict()``: data fields
            and metainfo merged).
        key: the field or metainfo name.
        default: returned when the sample has neither.
    """
    if isinstance(sample, dict):
        return sample.get(key, default)
    if key in sample:
        return sample.get(key)
    return sample.metainfo.get(key, default)
