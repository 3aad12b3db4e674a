"""The user + item bias baseline, the bar a model must clear to be blessed.

rating = mean + b_user + b_movie, each bias shrunk towards 0 by a regularisation, fitted by
alternating least squares: the classical baseline of collaborative filtering, which any
model worth serving beats. Its RMSE depends on the release (about 0.94 on MovieLens 100K,
lower on the larger ones), so no fixed bound fits every dataset; the baseline fitted on the
same train split as the model does.

The Trainer fits it in NumPy on the train split it holds in memory, chooses the
regularisation on the eval split, and stores the biases in the SavedModel
(`BiasBaselineRatings`); the Evaluator's `evaluate` signature returns its rating beside the
model's, so TFMA measures both on the same test examples in one pass
(components/rmse_metric.py). benchmarks/rmse.py reports the same fit.
"""
import dataclasses
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

from models.schema import RatingScale

ITERATIONS = 15


@dataclasses.dataclass(frozen=True)
class BiasBaseline:
    """Biases by vocabulary index; a user or movie without ratings in the data it was fitted
    on has bias 0. The OOV row has none in train; in train + eval (refit_on_eval) it holds
    the ratings of eval's users and movies that train lacks."""
    mean: float
    user_bias: np.ndarray  # [users], float64
    movie_bias: np.ndarray  # [movies], float64
    regularisation: float

    def predict(self, user_index: np.ndarray, movie_index: np.ndarray,
                scale: RatingScale) -> np.ndarray:
        """Ratings clipped to `scale`, as the model's are."""
        return np.clip(self.mean + self.user_bias[user_index] + self.movie_bias[movie_index],
                       scale.min, scale.max)


def fit(user_index: np.ndarray, movie_index: np.ndarray, ratings: np.ndarray, users: int,
        movies: int, regularisation: float, iterations: int = ITERATIONS) -> BiasBaseline:
    """Alternating regularised least squares: each step solves one side's biases exactly,
    given the other's."""
    ratings = np.asarray(ratings, np.float64)
    mean = float(ratings.mean())
    user_count = np.bincount(user_index, minlength=users)
    movie_count = np.bincount(movie_index, minlength=movies)
    user_bias, movie_bias = np.zeros(users), np.zeros(movies)
    for _ in range(iterations):
        residual = ratings - mean - movie_bias[movie_index]
        user_bias = np.bincount(user_index, residual, users) / (user_count + regularisation)
        residual = ratings - mean - user_bias[user_index]
        movie_bias = np.bincount(movie_index, residual, movies) / (movie_count + regularisation)
    return BiasBaseline(mean, user_bias, movie_bias, float(regularisation))


def rmse(predictions: np.ndarray, ratings: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predictions - np.asarray(ratings, np.float64)) ** 2)))


def fit_chosen_on_eval(train: Tuple[np.ndarray, np.ndarray, np.ndarray],
                       eval_: Tuple[np.ndarray, np.ndarray, np.ndarray], users: int,
                       movies: int, regularisations: Sequence[float],
                       scale: RatingScale) -> Tuple[BiasBaseline, Dict[float, float]]:
    """The fit whose regularisation gives the lowest eval RMSE, and the eval RMSE of each.

    `train` and `eval_` are (user indices, movie indices, ratings); the test split is never
    looked at.
    """
    if not regularisations:
        raise ValueError('bias_baseline_regularisation is empty: give the values to choose '
                         'from in pipeline/configs.py')
    fits = {reg: fit(*train, users, movies, reg) for reg in regularisations}
    eval_rmse = {reg: rmse(baseline.predict(eval_[0], eval_[1], scale), eval_[2])
                 for reg, baseline in fits.items()}
    return fits[min(eval_rmse, key=eval_rmse.get)], eval_rmse


class BiasBaselineRatings(tf.Module):
    """The fitted baseline inside the SavedModel: ratings of (user, movie) index pairs."""

    def __init__(self, baseline: BiasBaseline, scale: RatingScale):
        super().__init__()
        self._mean = tf.constant(baseline.mean, tf.float32)
        self._user_bias = tf.Variable(baseline.user_bias.astype(np.float32), trainable=False,
                                      name='bias_baseline_user')
        self._movie_bias = tf.Variable(baseline.movie_bias.astype(np.float32), trainable=False,
                                       name='bias_baseline_movie')
        self._scale = scale

    def __call__(self, user_index, movie_index):
        rating = (self._mean + tf.gather(self._user_bias, user_index)
                  + tf.gather(self._movie_bias, movie_index))
        return tf.clip_by_value(rating, self._scale.min, self._scale.max)
