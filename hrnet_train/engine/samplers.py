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


class _EpochPosition:
    """``set_position`` for an epoch sampler: the next epoch iterator (only that one) starts
    part-way through this rank's indices."""

    _start = 0

    def set_position(self, position: int) -> None:
        """Make the next ``__iter__`` (only that one) skip this rank's first ``position`` indices
        of the current epoch."""
        if position < 0:
            raise ValueError(f'position must be >= 0, got {position}')
        self._start = int(position)

    def _from_position(self, indices: list[int]) -> Iterator[int]:
        start, self._start = self._start, 0
        return iter(indices[start:])


@DATA_SAMPLERS.register_module()
class ResumableDefaultSampler(_EpochPosition, DefaultSampler):
    """mmengine's ``DefaultSampler`` (per-epoch permutation seeded with ``seed + epoch``) that can
    start an epoch part-way through, for resuming epoch-based training mid-epoch.

    Args: as :class:`mmengine.dataset.DefaultSampler` (dataset, shuffle, seed, round_up).
    """

    def __iter__(self) -> Iterator[int]:
        return self._from_position(list(super().__iter__()))


def image_groups(dataset, key: str = 'img_path') -> list[list[int]]:
    """The dataset's indices grouped by ``dataset.get_data_info(i)[key]``, groups and members in
    index order.

    Raises:
        ValueError: naming the dataset type when it has no ``get_data_info`` or a record lacks
            ``key``.
    """
    get = getattr(dataset, 'get_data_info', None)
    if get is None:
        raise ValueError(f'ImageGroupedSampler needs a dataset with get_data_info(i) giving '
                         f'{key!r}; {type(dataset).__name__} has no get_data_info')
    groups: dict = {}
    for i in range(len(dataset)):
        info = get(i)
        if key not in info:
            raise ValueError(f'ImageGroupedSampler: {type(dataset).__name__}.get_data_info({i}) '
                             f'has no {key!r} (keys: {", ".join(sorted(info))})')
        groups.setdefault(info[key], []).append(i)
    return list(groups.values())


@DATA_SAMPLERS.register_module()
class ImageGroupedSampler(_EpochPosition, torch.utils.data.Sampler):
    """Epoch sampler that gives the instances of one image one after another, for top-down pose
    training with ``LoadImage(cache_last=True)`` (one decode per image instead of per person).

    Each epoch the images are permuted (a generator seeded with ``seed + epoch``, as
    mmengine's ``DefaultSampler``), and so are the instances within each image; the epoch's order
    is the concatenation. Every instance is drawn once per epoch, as with ``DefaultSampler``, but
    a batch holds the persons of ~batch / (instances per image) images instead of ~batch images
    (COCO train: ~2.6 persons per image). Rank ``r`` of ``W`` takes the ``r``-th of ``W``
    contiguous chunks, so the images stay whole within a rank; with ``round_up`` the order is
    first extended with its own start to a multiple of ``W``. The groups are read once, at
    construction, from every record (~20 us each: ~3 s for COCO train's ~150k persons).

    Args:
        dataset: a dataset with ``get_data_info(i)`` (mmengine ``BaseDataset``).
        shuffle: permute images and instances each epoch (else index order).
        seed: base seed; None draws one shared by all ranks (``sync_random_seed``).
        round_up: every rank gets ``ceil(N / W)`` indices (else the chunks differ by one).
        key: the record key naming the image.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None,
                 round_up: bool = True, key: str = 'img_path') -> None:
        rank, world_size = get_dist_info()
        self.rank, self.world_size = rank, world_size
        self.dataset = dataset
        self.groups = image_groups(dataset, key)
        self.size = len(dataset)
        if self.size == 0:
            raise ValueError('ImageGroupedSampler needs a non-empty dataset')
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.round_up = round_up
        self.epoch = 0

    def _epoch_order(self) -> list[int]:
        """The whole epoch's order (all ranks), before round-up."""
        if not self.shuffle:
            return [i for group in self.groups for i in group]
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        order = []
        for k in torch.randperm(len(self.groups), generator=g).tolist():
            group = self.groups[k]
            order.extend(group[j] for j in torch.randperm(len(group), generator=g).tolist())
        return order

    def _bounds(self) -> tuple[int, int]:
        """[begin, end) of this rank's chunk in the (rounded-up) epoch order."""
        if self.round_up:
            n = -(-self.size // self.world_size)
            return self.rank * n, (self.rank + 1) * n
        return (self.size * self.rank // self.world_size,
                self.size * (self.rank + 1) // self.world_size)

    def rank_indices(self) -> list[int]:
        """This rank's indices of the current epoch, in order."""
        order = self._epoch_order()
        begin, end = self._bounds()
        while len(order) < end:  # round_up: extend with the order's own start
            order = order + order[:end - len(order)]
        return order[begin:end]

    def __iter__(self) -> Iterator[int]:
        return self._from_position(self.rank_indices())

    def __len__(self) -> int:
        begin, end = self._bounds()
        return end - begin

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (called by the epoch loop before each epoch)."""
        self.epoch = epoch
