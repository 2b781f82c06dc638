"""Model utilities: official checkpoint loading."""
from .official_weights import (LoadReport, canonical_key, convert_state_dict,
                               load_official_weights, unwrap_state_dict)

__all__ = ['LoadReport', 'canonical_key', 'convert_state_dict', 'load_official_weights',
           'unwrap_state_dict']
