"""A tiny deterministic model, dataset and metric for engine tests.

Registered in registries of their own scope ``hrnet_toy`` (children of mmengine's roots), so the
project's registries -- and the model contract test that iterates over them -- never see them.
Configs refer to them as ``type='hrnet_toy.ToyModel'`` after ``custom_imports=['_toy']``.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import random
import time
import uuid
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry
from torch.utils.data import Dataset

TOY_MODELS = Registry('model', parent=MMENGINE_MODELS, scope='hrnet_toy')
TOY_DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='hrnet_toy')
TOY_METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='hrnet_toy')


@TOY_DATASETS.register_module()
class ToyDataset(Dataset):
    """``num_samples`` fixed samples: inputs (4,) float32 and a scalar target.

    ``ToyDataset.getitem_calls`` counts ``__getitem__`` calls in this process (workers=0).
    """

    getitem_calls = 0
    # numpy values, as real dataset metas (sigmas, joint weights) carry into checkpoints
    metainfo = dict(dataset_name='toy', sigmas=np.array([0.026, 0.025], dtype=np.float32),
                    num_keypoints=np.int64(2))

    def __init__(self, num_samples: int = 10) -> None:
        g = torch.Generator().manual_seed(123)
        self.inputs = torch.randn(num_samples, 4, generator=g)
        self.targets = self.inputs @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.25

    def __len__(self) -> int:
        return len(self.inputs)

    def get_data_info(self, idx: int) -> dict:
        """A record naming the sample's "image": three samples per image."""
        return dict(img_path=f'img{idx // 3}.jpg', sample_idx=idx)

    def __getitem__(self, idx: int) -> dict:
        type(self).getitem_calls += 1
        return dict(inputs=self.inputs[idx],
                    data_samples=dict(idx=torch.tensor(idx), target=self.targets[idx]))


@TOY_MODELS.register_module()
class ToyModel(BaseModel):
    """Linear regression with an MSE loss named ``loss_mse``.

    Args:
        nan_at_iter: 1-based training forward pass whose loss is made NaN (for the hook test).
        sleep: seconds to sleep in each training forward pass (for the signal test).
        progress_file: after each training forward pass, its count is written here.
        draw_random: each training forward pass draws from the Python, numpy and torch global
            generators (as random augmentation does) and appends the draws to ``random_draws``.
    """

    def __init__(self, nan_at_iter: Optional[int] = None, sleep: float = 0.0,
                 progress_file: Optional[str] = None, draw_random: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 1)
        self.bn = nn.BatchNorm1d(1, affine=False)  # buffers only (running stats) to round-trip
        self.nan_at_iter = nan_at_iter
        self.sleep = sleep
        self.progress_file = progress_file
        self.draw_random = draw_random
        self.train_forwards = 0
        self.seen_indices: list[list[int]] = []
        self.random_draws: list[tuple[float, float, float]] = []

    def forward(self, inputs: torch.Tensor, data_samples: Optional[dict] = None,
                mode: str = 'tensor'):
        pred = self.linear(inputs)[:, 0]  # (N,)
        _ = self.bn(pred[:, None].detach())
        if mode == 'tensor':
            return pred
        if mode == 'loss':
            self.train_forwards += 1
            self.seen_indices.append(data_samples['idx'].tolist())
            if self.draw_random:
                self.random_draws.append(
                    (random.random(), float(np.random.rand()), float(torch.rand(1))))
            loss = ((pred - data_samples['target'].to(pred.dtype)) ** 2).mean()
            if self.nan_at_iter is not None and self.train_forwards == self.nan_at_iter:
                loss = loss * float('nan')
            if self.sleep:
                time.sleep(self.sleep)
            if self.progress_file:
                with open(self.progress_file + '.tmp', 'w') as f:
                    f.write(str(self.train_forwards))
                os.replace(self.progress_file + '.tmp', self.progress_file)
            return dict(loss_mse=loss, acc_dummy=torch.tensor(float('nan')))
        return [dict(idx=int(i), pred=float(p), target=float(t))
                for i, p, t in zip(data_samples['idx'], pred, data_samples['target'])]


@TOY_METRICS.register_module()
class ToyMetric(BaseMetric):
    """Mean absolute error and the number of distinct samples evaluated."""

    default_prefix = 'toy'

    def __init__(self, outfile_prefix: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.outfile_prefix = outfile_prefix

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results: list) -> dict:
        errors = [abs(r['pred'] - r['target']) for r in results]
        if self.outfile_prefix is not None:
            with open(f'{self.outfile_prefix}.toy.json', 'w') as f:
                json.dump(results, f)
        return dict(mae=sum(errors) / len(errors), num_samples=len({r['idx'] for r in results}))


CONFIG = osp.join(osp.dirname(osp.abspath(__file__)), '_toy_config.py')


def toy_config(work_dir, **options) -> Config:
    """The toy experiment with ``options`` merged (``--cfg-options`` syntax) and a unique
    experiment name (mmengine keys loggers by it)."""
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'toy_{uuid.uuid4().hex[:8]}'
    cfg.log_level = 'WARNING'
    return cfg


def build_runner(cfg: Config):
    """hrnet_train's Runner for ``cfg`` (after registering everything)."""
    from hrnet_train.engine import Runner
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    return Runner.from_cfg(cfg)


def model_state(runner) -> dict:
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fail_file_write(monkeypatch, suffix: str, on_write) -> None:
    """Make writes to files whose name ends with ``suffix`` store half of their bytes, flush,
    then call ``on_write()`` (which raises: a full disk, an interrupt, a second Ctrl-C)."""
    real_open = open

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            self.f.flush()
            on_write()

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fake_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return HalfWriter(f) if str(file).endswith(suffix) else f

    monkeypatch.setattr('builtins.open', fake_open)
