"""Deterministic train/eval/test assignment of ratings.

A rating's split depends only on its (user id, movie id) pair, hashed with SHA-256, so the
splits are the same on every machine and every run, whatever the order of the input rows
or the byte layout of the serialised examples (which is what TFX's own hashing depends on).
"""
import bisect
import hashlib
import itertools
from typing import Sequence



def hash_bucket(user_id: str, movie_id: str, num_buckets: int) -> int:
    """The bucket in [0, num_buckets) of one (user, movie) pair."""
    digest = hashlib.sha256(f'{user_id}:{movie_id}'.encode('utf-8')).hexdigest()
    return int(digest, 16) % num_buckets


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


class FixedSplit:
    """Puts every pair in one split: the test file of a predefined GroupLens split."""

    def __init__(self, name: str):
        self._name = name

    def __call__(self, user_id: str, movie_id: str) -> str:
        return self._name
