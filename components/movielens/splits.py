"""Deterministic train/eval/test assignment of ratings: by hash, or by time.

The hash split: a rating's split depends only on its (user id, movie id) pair, hashed with
SHA-256, so the splits are the same on every machine and every run, whatever the order of the
input rows or the byte layout of the serialised examples (which is what TFX's own hashing
depends on).

The time split: the splits are cut at global timestamp quantiles, so that train is the past,
eval what follows it, and test the future, as a deployed model meets it. Ratings that share
the timestamp of a cut all go to the later split, so every train timestamp is before every
eval timestamp, and every eval timestamp before every test timestamp.
"""
import bisect
import hashlib
import itertools
from typing import Iterable, List, Sequence

import numpy as np


def hash_bucket(user_id: str, movie_id: str, num_buckets: int) -> int:
    """The bucket in [0, num_buckets) of one (user, movie) pair."""
    return hash_buckets((user_id,), (movie_id,), num_buckets)[0]


def hash_buckets(user_ids: Iterable[str], movie_ids: Iterable[str],
                 num_buckets: int) -> List[int]:
    """hash_bucket() of each of many pairs."""
    sha256 = hashlib.sha256
    return [int.from_bytes(sha256(f'{user_id}:{movie_id}'.encode('utf-8')).digest(), 'big')
            % num_buckets for user_id, movie_id in zip(user_ids, movie_ids)]


class HashSplitter:
    """Names the split of a (user, movie) pair: split i owns buckets[i] of sum(buckets)."""

    def __init__(self, names: Sequence[str], buckets: Sequence[int]):
        if len(names) != len(buckets) or not names:
            raise ValueError(f'split names {list(names)} and buckets {list(buckets)} '
                             'must pair up one to one')
        if any(bucket <= 0 for bucket in buckets):
            raise ValueError(f'split buckets {list(buckets)} must all be positive')
        self._names = tuple(names)
        self._upper_bounds = tuple(itertools.accumulate(buckets))

    def __call__(self, user_id: str, movie_id: str) -> str:
        bucket = hash_bucket(user_id, movie_id, self._upper_bounds[-1])
        return self._names[bisect.bisect_right(self._upper_bounds, bucket)]

    def split_all(self, user_ids: Sequence[str], movie_ids: Sequence[str]) -> np.ndarray:
        """The split of each pair, as an array of names."""
        buckets = hash_buckets(user_ids, movie_ids, self._upper_bounds[-1])
        return np.array(self._names, dtype=object)[
            np.searchsorted(self._upper_bounds, buckets, side='right')]


class FixedSplit:
    """Puts every pair in one split: the test file of a predefined GroupLens split."""

    def __init__(self, name: str):
        self._name = name

    def __call__(self, user_id: str, movie_id: str) -> str:
        return self._name

    def split_all(self, user_ids: Sequence[str], movie_ids: Sequence[str]) -> np.ndarray:
        return np.full(len(user_ids), self._name, dtype=object)


def num_quantiles(buckets: Sequence[int]) -> int:
    """How many evenly spaced quantiles (minimum and maximum included) place every cut:
    quantile i is at rank i / sum(buckets)."""
    return sum(buckets) + 1


def cut_points(quantiles: Sequence[int], buckets: Sequence[int]) -> List[int]:
    """The first timestamp of each split after the first, from the timestamps' quantiles.

    quantiles: num_quantiles(buckets) evenly spaced quantiles, as Beam's
    ApproximateQuantiles gives them; or, when there are fewer timestamps than that, all of
    them, sorted (which is also what ApproximateQuantiles gives).
    """
    total = sum(buckets)
    bounds = list(itertools.accumulate(buckets))[:-1]
    if len(quantiles) == num_quantiles(buckets):
        return [quantiles[bound] for bound in bounds]
    # Too few timestamps for quantiles: cut the sorted list itself in proportion.
    count = len(quantiles)
    return [quantiles[index] if index < count else quantiles[-1] + 1
            for index in (round(count * bound / total) for bound in bounds)]


class TimeSplitter:
    """Names the split of a timestamp: the first split before the first cut point, split i
    from cut point i - 1 on."""

    def __init__(self, names: Sequence[str], starts: Sequence[int]):
        if len(starts) != len(names) - 1 or list(starts) != sorted(starts):
            raise ValueError(f'split starts {list(starts)} must be {len(names) - 1} '
                             f'timestamps in order, one for each split after {names[0]}')
        self._names = tuple(names)
        self._starts = tuple(starts)

    def __call__(self, timestamp: int) -> str:
        return self._names[bisect.bisect_right(self._starts, timestamp)]

    def split_all(self, timestamps: np.ndarray) -> np.ndarray:
        """The split of each timestamp, as an array of names."""
        return np.array(self._names, dtype=object)[
            np.searchsorted(self._starts, timestamps, side='right')]
