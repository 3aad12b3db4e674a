"""The movies a model ranks, by vocabulary index: each one's id and title, and the movie a
title names.

The model keys a movie by its id, since several movies can share a title (MovieLens 10M and
later hold different films released the same year under one name). People name movies by
title, so the signatures that take titles resolve each one to a single movie: **the movie
with the most ratings in the train split among those with that title**, which is the
first of them in tf.Transform's movie vocabulary (ordered by frequency). `rank` and `top_k`
return the movie id beside each title, so a caller sees which movie was meant.
"""
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf


def movie_of_title(titles: Sequence[bytes]) -> Dict[bytes, int]:
    """Each title's movie index: the lowest index among the movies with that title."""
    named = {}
    for index, title in enumerate(titles):
        named.setdefault(title, index)
    return named


def titles_by_index(movies: int, movie_index: np.ndarray, titles: np.ndarray,
                    into: Dict[int, bytes]) -> None:
    """Adds the title of each movie index in a batch of rows to `into`.

    Only the batch's first row of each movie is kept: the catalog needs one title per movie
    and the train split can hold tens of millions of rows.
    """
    present, first = np.unique(movie_index, return_index=True)
    for index, row in zip(present, first):
        if index < movies:  # the OOV index names no movie
            into.setdefault(int(index), bytes(titles[row]))


class MovieCatalog(tf.Module):
    """The catalog inside the SavedModel. Index `size` is the out-of-vocabulary movie, whose
    id and title are empty."""

    def __init__(self, movie_ids: Sequence[bytes], titles: Sequence[bytes]):
        super().__init__()
        if len(movie_ids) != len(titles):
            raise ValueError(f'{len(movie_ids)} movie ids but {len(titles)} titles: the '
                             'catalog needs the title of every movie of the vocabulary')
        self.size = len(movie_ids)
        # Variables, not constants: each signature would embed its own copy of a constant.
        self.movie_ids = tf.Variable(list(movie_ids) + [b''], trainable=False, dtype=tf.string,
                                     name='catalog_movie_ids')
        self.titles = tf.Variable(list(titles) + [b''], trainable=False, dtype=tf.string,
                                  name='catalog_titles')
        named = movie_of_title(titles)
        self._movie_of_title = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(named), tf.string),
                tf.constant(list(named.values()), tf.int64)),
            default_value=self.size)

    def index_of(self, titles):
        """The movie index each title names; `size` for a title not in the catalog."""
        return self._movie_of_title.lookup(titles)

    def id_of(self, movie_index):
        return tf.gather(self.movie_ids, movie_index)

    def title_of(self, movie_index):
        return tf.gather(self.titles, movie_index)
