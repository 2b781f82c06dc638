"""Samplers whose position can be set in O(1), so that resuming never replays the dataloader.

mmengine 0.10.7's ``IterBasedTrainLoop`` resumes by calling ``next()`` on the dataloader once per
completed iteration (REFERENCE §5.2), loading every skipped batch. These samplers only produce
indices, so skipping means computing where the index stream stands, not loading data.
"""
from __future__ import annotations

import itertools
from typing import Iterator, Sized

import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import get_dist_info, sync_random_seed

from hrnet_train.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ResumableInfiniteSampler(torch.utils.data.Sampler):
    """Endless index stream for iteration-based training, with an O(1) ``set_position``.

    The global stream is a concatenation of cycles; cycle ``c`` is a permutation of
    ``range(len(dataset))`` drawn from a generator seeded with ``seed + c`` (or the identity when
    ``shuffle=False``). Rank ``r`` of ``W`` takes global elements ``r, r + W, r + 2W, ...``, so
    all ranks together see every sample once per cycle. Seeding every cycle separately is what
    makes the position settable without drawing the earlier cycles.

    Args:
        dataset: the dataset (only its length is used).
        shuffle: permute each cycle.
        seed: base seed; None draws one shared by all ranks (``sync_random_seed``).

    Attributes:
        position: number of indices this rank's next ``__iter__`` skips; advanced while
            iterating. Note that DataLoader workers prefetch, so the loop sets the position from
            its iteration count (``iter * batch_size``) instead of trusting this counter.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None) -> None:
        rank, world_size = get_dist_info()
        self.rank = rank
        self.world_size = world_size
        self.dataset = dataset
        self.size = len(dataset)
        if self.size == 0:
            raise ValueError('ResumableInfiniteSampler needs a non-empty dataset')
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.position = 0

    def _cycle(self, cycle: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.size))
        g = torch.Generator()
        g.manual_seed(self.seed + cycle)
        return torch.randperm(self.size, generator=g).tolist()

    def set_position(self, position: int) -> None:
        """Make the next ``__iter__`` start at this rank's ``position``-th index (0-based)."""
        if position < 0:
            raise ValueError(f'position must be >= 0, got {position}')
        self.position = int(position)

    def index_at(self, position: int) -> int:
        """This rank's ``position``-th index, computed without iterating."""
        global_pos = self.rank + position * self.world_size
        return self._cycle(global_pos // self.size)[global_pos % self.size]

    def __iter__(self) -> Iterator[int]:
        global_pos = self.rank + self.position * self.world_size
        cycle, offset = divmod(global_pos, self.size)
        while True:
            indices = self._cycle(cycle)
            # this rank's elements of the cycle start at `offset` and step by world_size
            for index in itertools.islice(indices, offset, None, self.world_size):
                self.position += 1
                yield index
            # first element of the next cycle that belongs to this rank
            consumed = self.size - offset
            step_over = (-consumed) % self.world_size
            offset = step_over
            cycle += 1
            while offset >= self.size:  # world_size > dataset size
                offset -= self.size
                cycle += 1

    def __len__(self) -> int:
        """Samples per rank per cycle (mmengine's InfiniteSampler reports the dataset size)."""
        return self.size

    def set_epoch(self, epoch: int) -> None:
        """Unused: the stream is one endless sequence (mmengine InfiniteSampler interface)."""


@DATA_SAMPLERS.register_module()
class ResumableDefaultSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (per-epoch permutation seeded with ``seed + epoch``) that can
    start an epoch part-way through, for resuming epoch-based training mid-epoch.

    Args: as :class:`mmengine.dataset.DefaultSampler` (dataset, shuffle, seed, round_up).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._start = 0

    def set_position(self, position: int) -> None:
        """Make the next ``__iter__`` (only that one) skip this rank's first ``position`` indices
        of the current epoch."""
        if position < 0:
            raise ValueError(f'position must be >= 0, got {position}')
        self._start = int(position)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        start, self._start = self._start, 0
        return iter(indices[start:])
