"""Distributed helpers: ``torch.distributed`` on machines without CUDA (gloo), and agreeing on a
verdict across ranks.

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` for the pytorch and slurm
launchers, which fails on CPU-only builds; the Runner calls :func:`init_cpu_dist` instead when
CUDA is unavailable.
"""
from __future__ import annotations

import datetime
import os
import subprocess
import warnings

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.dist import all_reduce, get_dist_info


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a model without parameters)."""
    for param in model.parameters():
        return param.device
    return torch.device('cpu')


def any_rank(flag: bool, *, device: torch.device) -> bool:
    """Whether ``flag`` is true on at least one rank (one all-reduce; ``flag`` when not
    distributed). Every rank must call it, so that all of them stop at the same iteration.

    Args:
        flag: this rank's verdict.
        device: where the collective runs (the model's device: CUDA for NCCL).
    """
    _, world_size = get_dist_info()
    if world_size == 1:
        return bool(flag)
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    all_reduce(tensor, op='max')
    return bool(tensor.item())


def init_cpu_dist(launcher: str, backend: str = 'gloo', port: int | None = None,
                  **kwargs) -> None:
    """Create the default process group for a CPU job.

    Args:
        launcher: ``'pytorch'`` (torchrun: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the
            environment), ``'slurm'`` (SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST; MASTER_PORT
            or ``port``, default 29500) or ``'mpi'`` (OMPI_COMM_WORLD_RANK/SIZE plus MASTER_ADDR
            and MASTER_PORT).
        backend: process group backend; ``'nccl'`` is replaced by ``'gloo'`` with a warning.
        port: master port for slurm.
        **kwargs: ``init_process_group`` arguments; an integer ``timeout`` is in seconds.
    """
    if backend == 'nccl':
        warnings.warn('nccl needs CUDA; using the gloo backend', stacklevel=2)
        backend = 'gloo'
    if isinstance(kwargs.get('timeout'), (int, float)):
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    if launcher == 'slurm':
        proc_id = int(os.environ['SLURM_PROCID'])
        node_list = os.environ['SLURM_NODELIST']
        if port is not None:
            os.environ['MASTER_PORT'] = str(port)
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            os.environ['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {node_list} | head -n1')
        os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
        os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
        os.environ['RANK'] = str(proc_id)
    elif launcher == 'mpi':
        os.environ['RANK'] = os.environ['OMPI_COMM_WORLD_RANK']
        os.environ['WORLD_SIZE'] = os.environ['OMPI_COMM_WORLD_SIZE']
        os.environ['LOCAL_RANK'] = os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0')
        os.environ.setdefault('MASTER_PORT', '29500')
    elif launcher != 'pytorch':
        raise ValueError(f'launcher must be "pytorch", "slurm" or "mpi", got {launcher!r}')
    torch_dist.init_process_group(backend=backend, **kwargs)
