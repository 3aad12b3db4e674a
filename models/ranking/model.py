"""The TFRS ranking models: predict the rating a user gives a movie from the two ids.

Both models take only the tf.Transform indices of the user and the movie. What else is
known of them (age, occupation, genres, release year, ...) sits in lookup tables that the
Trainer fills from the training data (see `CatalogTables`), so serving needs nothing but the
two ids, and a user or movie out of the vocabulary still gets a prediction.
"""
import dataclasses
from typing import Dict

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from models import features
from models.ranking.hyperparameters import Hyperparameters


@dataclasses.dataclass
class CatalogTables:
    """Per-user and per-movie side features, indexed by the user's and movie's vocabulary index.

    Row len(vocabulary) of each table is the out-of-vocabulary user or movie, whose side
    features are all out-of-vocabulary too. `vocabulary_sizes` counts every side feature's
    indices including its OOV bucket; genre lists are padded with `genre_padding`. The movies
    each user rated in training are in CSR form: user u's are
    rated_movies[rated_row_splits[u]:rated_row_splits[u + 1]].
    """
    user_features: Dict[str, np.ndarray]
    movie_genres: np.ndarray  # [movies + 1, max genres per movie], int
    movie_year: np.ndarray  # [movies + 1], float
    rated_movies: np.ndarray  # [training ratings], movie index, grouped by user
    rated_row_splits: np.ndarray  # [users + 2]
    vocabulary_sizes: Dict[str, int]
    rating_mean: float

    @property
    def genre_padding(self) -> int:
        return self.vocabulary_sizes[features.MOVIE_GENRE_INDICES]


class RankingModel(tfrs.models.Model):
    """A TFRS ranking model: MSE loss and RMSE metric live in the task.

    Subclasses implement `score`; predictions outside training are clipped to the rating
    scale, since no rating is below 1 or above 5 and clipping can only lower the error.
    """

    def __init__(self):
        super().__init__()
        self.task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name='rmse')])

    def score(self, user_index, movie_index, training):
        raise NotImplementedError

    def call(self, inputs, training=False):
        scores = self.score(inputs[features.USER_INDEX], inputs[features.MOVIE_INDEX], training)
        if training:
            return scores
        return tf.clip_by_value(scores, features.MIN_RATING, features.MAX_RATING)

    def compute_loss(self, inputs, training=False):
        predictions = self(inputs, training=training)
        return self.task(labels=inputs[features.LABEL], predictions=predictions)


class NotebookModel(RankingModel):
    """The tutorial's model: user and title embeddings, concatenated, through Dense 256-64-1."""

    def __init__(self, num_users: int, num_movies: int, hparams: Hyperparameters):
        super().__init__()
        self.user_embedding = tf.keras.layers.Embedding(num_users, hparams.embedding_dim)
        self.movie_embedding = tf.keras.layers.Embedding(num_movies, hparams.embedding_dim)
        self.ratings = tf.keras.Sequential(
            [tf.keras.layers.Dense(units, activation='relu') for units in hparams.hidden_units]
            + [tf.keras.layers.Dense(1)])

    def score(self, user_index, movie_index, training):
        joined = tf.concat([self.user_embedding(user_index),
                            self.movie_embedding(movie_index)], axis=1)
        return tf.squeeze(self.ratings(joined, training=training), axis=1)


class _SideEmbeddings(tf.keras.layers.Layer):
    """Looks up a user's or movie's side features in a table and embeds them."""

    def __init__(self, table: np.ndarray, vocabulary_size: int, dim: int, l2: float, **kwargs):
        super().__init__(**kwargs)
        self._table = tf.Variable(table, trainable=False, name='table')
        self._embedding = tf.keras.layers.Embedding(
            vocabulary_size, dim, embeddings_regularizer=tf.keras.regularizers.l2(l2))

    def call(self, index):
        return self._embedding(tf.gather(self._table, index))


class HybridModel(RankingModel):
    """Biased matrix factorisation plus an MLP over ids and side features.

    rating = global mean + user bias + movie bias + <user vector, movie vector> + MLP(...),
    where each vector is the id's embedding plus the embeddings of its side features. The
    bias and dot-product terms carry what classical collaborative filtering learns; the MLP
    learns interactions that a dot product cannot express. As in SVD++, the user vector also
    holds the normalised sum of "implicit" embeddings of the movies the user rated: which
    movies someone chose to rate says much about their taste, and it describes users with
    few ratings better than their own embedding can.
    """

    def __init__(self, num_users: int, num_movies: int, tables: CatalogTables,
                 hparams: Hyperparameters):
        super().__init__()
        dim, l2 = hparams.embedding_dim, hparams.embedding_l2
        regularizer = tf.keras.regularizers.l2(l2)

        def embedding(rows, width, name):
            return tf.keras.layers.Embedding(rows, width, embeddings_regularizer=regularizer,
                                             embeddings_initializer='random_normal' if width > 1
                                             else 'zeros', name=name)

        self.global_mean = tf.Variable(tables.rating_mean, trainable=True, name='global_mean')
        self.user_bias = embedding(num_users, 1, 'user_bias')
        self.movie_bias = embedding(num_movies, 1, 'movie_bias')
        self.user_embedding = embedding(num_users, dim, 'user_embedding')
        self.movie_embedding = embedding(num_movies, dim, 'movie_embedding')
        self.user_sides = [
            _SideEmbeddings(tables.user_features[name], tables.vocabulary_sizes[name], dim, l2,
                            name=name)
            for name in features.USER_SIDE_FEATURES]
        self._genres = tf.Variable(tables.movie_genres, trainable=False, name='genres')
        self.genre_embedding = embedding(tables.genre_padding + 1, dim, 'genre_embedding')
        self._genre_padding = tables.genre_padding
        self._year = tf.Variable(tables.movie_year, trainable=False, name='year')
        self.year_projection = tf.keras.layers.Dense(dim, use_bias=False)
        self._rated_movies = tf.Variable(tables.rated_movies, trainable=False,
                                         name='rated_movies')
        self._rated_row_splits = tf.Variable(tables.rated_row_splits, trainable=False,
                                             name='rated_row_splits')
        self.implicit_embedding = embedding(num_movies, dim, 'implicit_embedding')
        self.mlp = tf.keras.Sequential(
            [layer for units in hparams.hidden_units for layer in (
                tf.keras.layers.Dense(units, activation='relu'),
                tf.keras.layers.Dropout(hparams.dropout))]
            + [tf.keras.layers.Dense(1)])

    def _movie_side(self, movie_index):
        genres = tf.gather(self._genres, movie_index)
        present = tf.cast(genres != self._genre_padding, tf.float32)[..., tf.newaxis]
        genre_sum = tf.reduce_sum(self.genre_embedding(genres) * present, axis=1)
        genre_mean = genre_sum / tf.maximum(tf.reduce_sum(present, axis=1), 1.0)
        year = tf.gather(self._year, movie_index)[:, tf.newaxis]
        return genre_mean + self.year_projection(year)

    def _implicit_feedback(self, user_index):
        """|N(u)|^-1/2 * sum of the implicit embeddings of the movies user u rated."""
        # A batch holds many ratings of the same active users: sum each user's movies once.
        users, position = tf.unique(user_index)
        rated = tf.gather(tf.RaggedTensor.from_row_splits(
            self._rated_movies, self._rated_row_splits, validate=False), users)
        total = tf.reduce_sum(tf.ragged.map_flat_values(self.implicit_embedding, rated), axis=1)
        count = tf.cast(rated.row_lengths(), tf.float32)[:, tf.newaxis]
        return tf.gather(total * tf.math.rsqrt(tf.maximum(count, 1.0)), position)

    def score(self, user_index, movie_index, training):
        user_vector = self.user_embedding(user_index) + tf.add_n(
            [side(user_index) for side in self.user_sides]) + self._implicit_feedback(
                user_index)
        movie_vector = self.movie_embedding(movie_index) + self._movie_side(movie_index)
        interaction = tf.reduce_sum(user_vector * movie_vector, axis=1)
        mlp = tf.squeeze(self.mlp(tf.concat([user_vector, movie_vector], axis=1),
                                  training=training), axis=1)
        biases = tf.squeeze(self.user_bias(user_index) + self.movie_bias(movie_index), axis=1)
        return self.global_mean + biases + interaction + mlp


class Ensemble(RankingModel):
    """The average of several trained models: their errors are partly independent, so the
    average is more accurate than any one of them."""

    def __init__(self, members):
        super().__init__()
        self.members = members

    def score(self, user_index, movie_index, training):
        return tf.add_n([member.score(user_index, movie_index, training)
                         for member in self.members]) / len(self.members)


def build(hparams: Hyperparameters, num_users: int, num_movies: int,
          tables: CatalogTables) -> RankingModel:
    """The model named by hparams.architecture; sizes count the OOV row."""
    if hparams.architecture == 'notebook':
        return NotebookModel(num_users, num_movies, hparams)
    if hparams.architecture == 'hybrid':
        return HybridModel(num_users, num_movies, tables, hparams)
    raise ValueError(f"Unknown architecture {hparams.architecture!r}: use 'notebook' or 'hybrid'.")
