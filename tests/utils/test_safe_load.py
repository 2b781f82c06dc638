"""Checkpoints round-trip under torch.load(weights_only=True) with the allow-list only."""
import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from hrnet_train.utils.safe_load import safe_torch_load


def test_mmengine_style_checkpoint_round_trip(tmp_path):
    hub = MessageHub.get_instance('test_safe_load')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', np.float64(0.25))
    ckpt = {'meta': {'epoch': 2, 'seed': np.int64(3), 'dataset_meta': {
        'sigmas': np.array([0.026, 0.025], dtype=np.float32), 'flip': np.uint32(1)}},
        'message_hub': hub.state_dict(), 'state_dict': {'w': torch.arange(4.0)}}
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)
    # plain weights_only load fails on the numpy/HistoryBuffer content (torch >= 2.6 default)
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    out = safe_torch_load(path)
    assert torch.equal(out['state_dict']['w'], torch.arange(4.0))
    np.testing.assert_array_equal(out['meta']['dataset_meta']['sigmas'],
                                  np.array([0.026, 0.025], np.float32))
    assert out['meta']['seed'] == 3
    buf = out['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == pytest.approx(0.375)


class _NotAllowed:
    pass


def test_disallowed_objects_still_rejected(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _NotAllowed()}, path)
    with pytest.raises(RuntimeError, match='evil.pth'):
        safe_torch_load(path)
