"""The TFRS ranking models: predict the rating a user gives a movie from the two ids.

Both architectures take only the tf.Transform indices of the user and the movie. What else is
known of them (age, occupation, genres, release year, ...) sits in lookup tables that the
Trainer fills from the training data (see `CatalogTables`), so serving needs nothing but the
two ids, and a user or movie out of the vocabulary still gets a prediction. (In training,
the Trainer also passes what the hybrid computes from its tables alone, computed once:
HybridScorer.table_inputs.)

Ranking the whole catalog for one user repeats every term of a rating that depends on the
movie alone; each scorer therefore also splits its rating into those terms (`movie_terms`,
computed once at export, see `CatalogMovieTerms`) and the rest (`rate_movies`).
"""
import dataclasses
from typing import Dict

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from models import features
from models.ranking.hyperparameters import Hyperparameters
from models.schema import RatingScale


# Keys of a scorer's movie_terms.
MOVIE_VECTOR = 'movie_vector'
MOVIE_BIAS = 'movie_bias'
MLP_MOVIE_HALF = 'mlp_movie_half'
NEIGHBOUR_WEIGHT = 'neighbour_weight'
# The item-item neighbours inverted: for each movie, the movies whose neighbour it is.
NEIGHBOUR_OF = 'neighbour_of'
NEIGHBOUR_OF_SIMILARITY = 'neighbour_of_similarity'
NEIGHBOUR_OF_ROW_SPLITS = 'neighbour_of_row_splits'
# A scorer's table input (HybridScorer.table_inputs).
NEIGHBOURHOOD_AVERAGE = 'neighbourhood_average'
# In the name of every BiasedMF variable, and of no other: the optimizer's row decay leaves
# them alone (trainer.optimizer).
BIASED_MF_VARIABLES = 'biased_mf_'
# What kind of model each member of a scorer's [batch, members] ratings is (its
# member_kinds): the blend fitted on eval weighs each kind (trainer.fit_blend).
NOTEBOOK_MEMBER = 'notebook'
HYBRID_MEMBER = 'hybrid'
BIASED_MF_MEMBER = 'biased MF'
# How a BiasedMF member's penalty weight applies: to each rating of a row, or to the row
# once an epoch (spread over its ratings).
PER_RATING = 'rating'
PER_ROW = 'row'
# Keys of BiasedMF's movie_terms.
MF_MOVIE_VECTOR = 'mf_movie_vector'
MF_MOVIE_BIAS = 'mf_movie_bias'


@dataclasses.dataclass
class CatalogTables:
    """Per-user and per-movie side features, indexed by the user's and movie's vocabulary index.

    `user_features` holds the user side features the release has (none for MovieLens 10M and
    later). Row len(vocabulary) of each table is the out-of-vocabulary user or movie, whose
    side features are all out-of-vocabulary too. `vocabulary_sizes` counts every side feature's
    indices including its OOV bucket; genre lists are padded with `genre_padding`. A sample
    of the movies each user rated in training (see trainer.rated_movies_sample) is in CSR
    form: user u's are rated_movies[rated_row_splits[u]:rated_row_splits[u + 1]], in index
    order, and rated_ratings holds how each was rated. movie_neighbours lists each movie's
    most similar movies (trainer.movie_neighbours) for the item-item term. The rating
    counts are of every rating the fit sees (train's, or train + eval's in the refit).
    """
    user_features: Dict[str, np.ndarray]
    movie_genres: np.ndarray  # [movies + 1, max genres per movie], int
    movie_year: np.ndarray  # [movies + 1], float
    rated_movies: np.ndarray  # movie indices, grouped by user
    rated_ratings: np.ndarray  # their ratings minus the user's mean rating, float
    rated_row_splits: np.ndarray  # [users + 2]
    rated_residuals: np.ndarray  # their baseline residuals (trainer.baseline_residuals)
    movie_neighbours: np.ndarray  # [movies + 1, neighbours], most similar first; -1 pads
    movie_neighbour_similarity: np.ndarray  # [movies + 1, neighbours], float
    user_ratings: np.ndarray  # [users + 1]: how many ratings each user has, float
    movie_ratings: np.ndarray  # [movies + 1]: how many each movie has, float
    vocabulary_sizes: Dict[str, int]
    rating_mean: float

    @property
    def genre_padding(self) -> int:
        return self.vocabulary_sizes[features.MOVIE_GENRE_INDICES]


class RankingModel(tfrs.models.Model):
    """A TFRS ranking model: MSE loss and RMSE metric live in the task.

    Its scorer rates each (user, movie) pair once per ensemble member, and the model serves
    a blend of them: members start from different random weights (and may differ in kind,
    see BiasedMF), so their errors are partly independent and the blend is more accurate
    than any one of them. Each member minimises its own loss (the members' weights are
    disjoint, so the gradient of the sum of their losses, for one member's weights, is that
    of its own loss), while the metrics, and so early stopping, follow the blend.

    Until the Trainer fits a blend on eval after training (trainer.fit_blend: a weight for
    each kind of member and an offset, set by use_blend), the blend is the members' mean.

    Predictions outside training are clipped to the release's rating scale (1-5, or 0.5-5
    for half stars), since no rating lies outside it and clipping can only lower the error.
    """

    def __init__(self, scorer: tf.keras.layers.Layer, scale: RatingScale):
        super().__init__()
        self.scorer = scorer
        self.scale = scale
        self.task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name='rmse')])
        members = len(scorer.member_kinds)
        self.blend_weights = tf.Variable(tf.fill([members], 1.0 / members), trainable=False,
                                         name='blend_weights')
        self.blend_offset = tf.Variable(0.0, trainable=False, name='blend_offset')

    def use_blend(self, weights, offset):
        """Serves the members' scores times `weights` (one per member), plus `offset`."""
        self.blend_weights.assign(np.asarray(weights, np.float32))
        self.blend_offset.assign(float(offset))

    def member_scores(self, inputs, training=False):
        """[batch, members]: each member's rating of each (user, movie) pair of `inputs`."""
        table_inputs = {key: inputs[key] for key in self.scorer.table_input_names
                        if key in inputs}
        return self.scorer(inputs[features.USER_INDEX], inputs[features.MOVIE_INDEX],
                           training=training, **table_inputs)

    def _served(self, member_scores, training):
        blended = tf.linalg.matvec(member_scores, self.blend_weights) + self.blend_offset
        return blended if training else tf.clip_by_value(blended, self.scale.min,
                                                         self.scale.max)

    def call(self, inputs, training=False):
        return self._served(self.member_scores(inputs, training), training)

    def rate_catalog(self, user_index, movie_terms):
        """[movies] served ratings of one user (user_index: [1]) for every movie of
        `movie_terms`, the scorer's movie_terms of those movies: what call would serve for
        each (user, movie) pair, from the user's side alone."""
        return self._served(self.scorer.rate_movies(user_index, movie_terms), training=False)

    def compute_loss(self, inputs, training=False):
        labels = inputs[features.LABEL]
        member_scores = self.member_scores(inputs, training)
        # The task updates its metrics only as a dependency of the loss it returns.
        served_loss = self.task(labels=labels, predictions=self._served(member_scores, training))
        with tf.control_dependencies([served_loss]):
            members = member_scores.shape[1]
            # The loss averages over members too; times `members`, it is the sum of theirs.
            return members * self.task(
                labels=tf.tile(labels[:, tf.newaxis], [1, members]), predictions=member_scores,
                compute_metrics=False)


class CatalogMovieTerms(tf.Module):
    """The scorer's movie_terms of every movie of the catalog, computed once when the model
    is exported and saved with it: rating the whole catalog for one user then computes only
    the user's side and how it meets each movie (RankingModel.rate_catalog)."""

    def __init__(self, scorer: tf.keras.layers.Layer, movies: int):
        super().__init__()
        # Variables, not constants: each signature would embed its own copy of a constant.
        self.terms = {key: tf.Variable(value, trainable=False, name=f'catalog_{key}')
                      for key, value in scorer.movie_terms(
                          tf.range(movies, dtype=tf.int64)).items()}


def _member_glorot(fan_in: int, fan_out: int) -> tf.keras.initializers.Initializer:
    """Glorot uniform as one member's own Dense(fan_out) layer would draw it: Keras would
    count every member in the fans of a kernel that holds several, and start them smaller."""
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return tf.keras.initializers.RandomUniform(-limit, limit)


class MemberDense(tf.keras.layers.Layer):
    """A Dense layer per ensemble member: [members, batch, in] -> [members, batch, units].

    Members first, each layer is one batched matmul: laid out [batch, members, in], the
    einsum that did the same work made a training step at 1M ratings 1.1x slower."""

    def __init__(self, units: int, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = tf.keras.activations.get(activation)

    def build(self, input_shape):
        members, width = input_shape[0], input_shape[2]
        self.kernel = self.add_weight('kernel', shape=(members, width, self.units),
                                      initializer=_member_glorot(width, self.units))
        self.bias = self.add_weight('bias', shape=(members, self.units), initializer='zeros')

    def call(self, inputs):
        return self.activation(tf.matmul(inputs, self.kernel) + self.bias[:, tf.newaxis, :])


def _member_mlp(hidden_units, dropout=0.0):
    layers = []
    for units in hidden_units:
        layers.append(MemberDense(units, activation='relu'))
        if dropout:
            layers.append(tf.keras.layers.Dropout(dropout))
    return tf.keras.Sequential(layers + [MemberDense(1)])


def _members_first(vectors):
    """[batch, members, dim] -> [members, batch, dim]: the layout of the member MLP and of the
    movie terms, whose products with one user's vectors are then batched matmuls."""
    return tf.transpose(vectors, [1, 0, 2])


def _mlp_of_pairs(mlp, user_vector, movie_vector, training):
    """[batch, members]: the member MLP of each pair's [user vector, movie vector]."""
    joined = _members_first(tf.concat([user_vector, movie_vector], axis=2))
    return tf.transpose(tf.squeeze(mlp(joined, training=training), axis=2))


def _mlp_movie_half(mlp, movie_vector):
    """[members, movies, units]: the part of the member MLP's first layer, before its
    activation, that does not depend on the user: its bias plus the movie vector's share of
    its input, [user vector, movie vector]."""
    first = mlp.layers[0]
    width = movie_vector.shape[-1]
    return tf.matmul(_members_first(movie_vector),
                     first.kernel[:, -width:, :]) + first.bias[:, tf.newaxis, :]


def _mlp_of_user(mlp, user_vector, movie_half):
    """[movies, members]: the member MLP of one user's vector ([1, members, dim]) joined with
    each movie's, given the first layer's movie half (_mlp_movie_half). The layers after the
    first see the pair, so they run over every movie."""
    first = mlp.layers[0]
    width = user_vector.shape[-1]
    hidden = first.activation(
        tf.matmul(_members_first(user_vector), first.kernel[:, :width, :]) + movie_half)
    for layer in mlp.layers[1:]:
        if isinstance(layer, MemberDense):  # the others are Dropout, which serving skips
            hidden = layer(hidden)
    return tf.transpose(tf.squeeze(hidden, axis=2))


def _dot_of_user(user_vector, movie_vectors):
    """[movies, members]: each member's dot product of one user's vector ([1, members, dim])
    with each movie's (movie_vectors: [members, movies, dim], members first)."""
    return tf.transpose(tf.squeeze(tf.matmul(movie_vectors, _members_first(user_vector),
                                             transpose_b=True), axis=2))


def _embedding(rows, width, name, initializer='random_normal'):
    """An embedding table of `rows` rows, `width` wide."""
    return tf.keras.layers.Embedding(rows, width, embeddings_initializer=initializer,
                                     name=name)


class _ZeroLastRow(tf.keras.initializers.Initializer):
    """`initializer`'s values with the last row, the OOV bucket's, zero: no rating trains it,
    so it keeps its start, and a user or movie out of the vocabulary then gets no term."""

    def __init__(self, initializer):
        self._initializer = tf.keras.initializers.get(initializer)

    def __call__(self, shape, dtype=None, **kwargs):
        values = self._initializer(shape, dtype=dtype, **kwargs)  # the same draws as without
        return tf.concat([values[:-1], tf.zeros_like(values[-1:])], axis=0)


class NotebookScorer(tf.keras.layers.Layer):
    """The tutorial's model: user and title embeddings, concatenated, through Dense 256-64-1;
    one such model per ensemble member."""

    def __init__(self, num_users: int, num_movies: int, hparams: Hyperparameters):
        super().__init__()
        self._member_shape = (hparams.ensemble_size, hparams.embedding_dim)
        width = hparams.ensemble_size * hparams.embedding_dim
        self.user_embedding = tf.keras.layers.Embedding(num_users, width)
        self.movie_embedding = tf.keras.layers.Embedding(num_movies, width)
        self.ratings = _member_mlp(hparams.hidden_units)
        self.member_kinds = (NOTEBOOK_MEMBER,) * hparams.ensemble_size

    def use_tables(self, tables: CatalogTables):
        """Nothing to replace: this model has no tables."""

    # Nothing to compute ahead (see HybridScorer's): no input depends on tables alone.
    table_input_names = ()

    def call(self, user_index, movie_index, training=False):
        """[batch, members] ratings."""
        return _mlp_of_pairs(
            self.ratings, _per_member(self.user_embedding(user_index), self._member_shape),
            _per_member(self.movie_embedding(movie_index), self._member_shape), training)

    def movie_terms(self, movie_index):
        """The terms of each movie's rating that do not depend on the user, for rate_movies."""
        movie_vector = _per_member(self.movie_embedding(movie_index), self._member_shape)
        return {MLP_MOVIE_HALF: _mlp_movie_half(self.ratings, movie_vector)}

    def rate_movies(self, user_index, movie_terms):
        """[movies, members]: call's ratings of one user for the movies of `movie_terms`."""
        user_vector = _per_member(self.user_embedding(user_index), self._member_shape)
        return _mlp_of_user(self.ratings, user_vector, movie_terms[MLP_MOVIE_HALF])


def _per_member(vectors, member_shape):
    """[batch, members * dim] -> [batch, members, dim]."""
    return tf.reshape(vectors, (-1,) + tuple(member_shape))


def _ascending_unique(indices, bound):
    """tf.unique(indices) with the distinct values in ascending order: (distinct, the
    position in it of each index), for indices in [0, bound). A count per value costs less
    than tf.unique's hash table, and in ascending order the most rated movies (the
    vocabulary's first indices) sit together, where a sum over them finds them in cache."""
    present = tf.math.bincount(tf.cast(indices, tf.int32), minlength=bound, maxlength=bound,
                               dtype=tf.int64) > 0
    position = tf.cumsum(tf.cast(present, tf.int64), exclusive=True)
    return tf.where(present)[:, 0], tf.gather(position, indices)


class BiasedMF(tf.keras.layers.Layer):
    """Members of other kinds: biased matrix factorisation alone, as classical collaborative
    filtering fits it: rating = global mean + user bias + movie bias + <user vector, movie
    vector>, with an L2 penalty on each user's and movie's row (vector and bias), as ridge
    regression's (the bias baseline's regularisation is one too). One member per
    `penalties` entry, (weight, PER_ROW or PER_RATING), each a kind of its own.

    Their errors differ from the hybrid members' more than theirs from each other's, so the
    blend gains more from them than from more hybrid members. The penalty is in the loss,
    where Adam weighs it against the data's gradient: the optimizer's decoupled row decay,
    which regularises the hybrid, leaves a dot product alone learning little beyond the
    biases (docs/performance.md). A batch holds a row once per rating, so each rating
    carries a penalty on its rows. PER_RATING, the weight itself, as SGD-trained MF has it:
    a row is penalised in proportion to its ratings. PER_ROW, the weight over the row's
    rating count: an epoch penalises each row by the weight in all, however many ratings it
    has. Neither suits every size: on 100K ratings PER_ROW did better, on 1M PER_RATING,
    whose best weight falls as the data grows. With one member of each, the blend fitted on
    eval (trainer.fit_blend) weighs them as the data set calls for.
    """

    def __init__(self, num_users: int, num_movies: int, penalties, dim: int,
                 tables: CatalogTables):
        super().__init__()
        unknown = [per for _, per in penalties if per not in (PER_ROW, PER_RATING)]
        if unknown:
            raise ValueError(f'biased_mf_penalties: {unknown[0]!r} is neither {PER_ROW!r} '
                             f'nor {PER_RATING!r}; fix it in pipeline/configs.py.')
        members = len(penalties)
        self._member_shape = (members, dim)
        self._l2 = tf.constant([float(weight) for weight, _ in penalties])
        # A rating's share of the penalty is the weight over the row's count to this power.
        self._count_power = tf.constant([float(per == PER_ROW) for _, per in penalties])
        self.member_kinds = tuple(f'{BIASED_MF_MEMBER} (L2 {weight:g} per {per})'
                                  for weight, per in penalties)
        self.global_mean = tf.Variable(tf.fill([members], tables.rating_mean), trainable=True,
                                       name=f'{BIASED_MF_VARIABLES}global_mean')

        # Its rows are not decayed (trainer.optimizer), so the OOV row would keep random
        # values: about 0.05 x a movie vector's length of noise on a new user's rating.
        def embedding(rows, width, name, initializer):
            return _embedding(rows, width, f'{BIASED_MF_VARIABLES}{name}',
                              _ZeroLastRow(initializer))

        self.user_bias = embedding(num_users, members, 'user_bias', 'zeros')
        self.movie_bias = embedding(num_movies, members, 'movie_bias', 'zeros')
        self.user_embedding = embedding(num_users, members * dim, 'user_embedding',
                                        'random_normal')
        self.movie_embedding = embedding(num_movies, members * dim, 'movie_embedding',
                                         'random_normal')
        self._user_ratings = tf.Variable(tables.user_ratings, trainable=False,
                                         name='user_ratings')
        self._movie_ratings = tf.Variable(tables.movie_ratings, trainable=False,
                                          name='movie_ratings')

    def use_tables(self, tables: CatalogTables):
        """Restarts the global mean from the tables' mean rating and counts their ratings."""
        self.global_mean.assign(tf.fill(self.global_mean.shape, tables.rating_mean))
        self._user_ratings.assign(tables.user_ratings)
        self._movie_ratings.assign(tables.movie_ratings)

    def call(self, user_index, movie_index, training=False):
        """[batch, members] ratings."""
        user_vector, movie_vector = self.user_embedding(user_index), \
            self.movie_embedding(movie_index)
        user_bias, movie_bias = self.user_bias(user_index), self.movie_bias(movie_index)
        if training:
            def share(vector, bias, ratings, index):
                """[batch, members]: each member's penalty on the rating's row."""
                squares = tf.reduce_sum(tf.square(_per_member(vector, self._member_shape)),
                                        axis=2) + tf.square(bias)
                count = tf.maximum(tf.gather(ratings, index), 1.0)[:, tf.newaxis]
                return squares / tf.pow(count, self._count_power)

            self.add_loss(tf.reduce_sum(self._l2 * tf.reduce_mean(
                share(user_vector, user_bias, self._user_ratings, user_index)
                + share(movie_vector, movie_bias, self._movie_ratings, movie_index), axis=0)))
        interaction = tf.reduce_sum(_per_member(user_vector, self._member_shape)
                                    * _per_member(movie_vector, self._member_shape), axis=2)
        return self.global_mean + user_bias + movie_bias + interaction

    def movie_terms(self, movie_index):
        return {MF_MOVIE_VECTOR: _members_first(_per_member(self.movie_embedding(movie_index),
                                                            self._member_shape)),
                MF_MOVIE_BIAS: self.movie_bias(movie_index)}

    def rate_movies(self, user_index, movie_terms):
        """[movies, members]: call's ratings of one user (user_index: [1])."""
        user_vector = _per_member(self.user_embedding(user_index), self._member_shape)
        return (self.global_mean + self.user_bias(user_index) + movie_terms[MF_MOVIE_BIAS]
                + _dot_of_user(user_vector, movie_terms[MF_MOVIE_VECTOR]))


class HybridScorer(tf.keras.layers.Layer):
    """Biased matrix factorisation plus an MLP over ids and side features.

    rating = global mean + user bias + movie bias + <user vector, movie vector> + MLP(...),
    where each vector is the id's embedding plus the embeddings of its side features. The
    bias and dot-product terms carry what classical collaborative filtering learns; the MLP
    learns interactions that a dot product cannot express. As in SVD++, the user vector also
    holds the normalised sum of "implicit" embeddings of the movies the user rated: which
    movies someone chose to rate says much about their taste, and it describes users with
    few ratings better than their own embedding can.

    Each embedding row holds every ensemble member's vector side by side, so the members
    cost one lookup per id instead of one each (lookups dominate a training step), and one
    graph to trace. With biased_mf_penalties, the BiasedMF members' ratings follow the hybrid
    members' in every [batch, members] result.
    """

    def __init__(self, num_users: int, num_movies: int, tables: CatalogTables,
                 hparams: Hyperparameters):
        super().__init__()
        members, dim = hparams.ensemble_size, hparams.embedding_dim
        self._member_shape = (members, dim)

        # Tables regularised by the optimizer's weight decay (see lazy_adam.py), not by a
        # penalty on whole tables, whose gradient would touch every row at every step.
        self.global_mean = tf.Variable(tf.fill([members], tables.rating_mean), trainable=True,
                                       name='global_mean')
        self.user_bias = _embedding(num_users, members, 'user_bias', 'zeros')
        self.movie_bias = _embedding(num_movies, members, 'movie_bias', 'zeros')
        self.user_embedding = _embedding(num_users, members * dim, 'user_embedding')
        self.movie_embedding = _embedding(num_movies, members * dim, 'movie_embedding')
        self._user_features = {name: tf.Variable(table, trainable=False, name=f'{name}_table')
                               for name, table in tables.user_features.items()}
        self.user_side_embeddings = {
            name: _embedding(tables.vocabulary_sizes[name], members * dim, name, 'uniform')
            for name in tables.user_features}
        self._genres = tf.Variable(tables.movie_genres, trainable=False, name='genres')
        self._genre_padding = tables.genre_padding
        self.genre_embedding = _embedding(tables.genre_padding + 1, members * dim,
                                          'genre_embedding')
        self._year = tf.Variable(tables.movie_year, trainable=False, name='year')
        self.year_projection = tf.keras.layers.Dense(
            members * dim, use_bias=False, kernel_initializer=_member_glorot(1, dim))
        # Of any length, so that use_tables can replace the samples with a refit's.
        self._rated_movies = tf.Variable(tables.rated_movies, trainable=False,
                                         shape=tf.TensorShape([None]), name='rated_movies')
        self._rated_ratings = tf.Variable(tables.rated_ratings, trainable=False,
                                          shape=tf.TensorShape([None]), name='rated_ratings')
        self._rated_row_splits = tf.Variable(tables.rated_row_splits, trainable=False,
                                             name='rated_row_splits')
        self.implicit_embedding = _embedding(num_movies, members * dim, 'implicit_embedding')
        self._explicit = hparams.explicit_feedback
        if self._explicit:
            self.explicit_embedding = _embedding(num_movies, members * dim,
                                                 'explicit_embedding')
        self._neighbours = hparams.neighbours
        if self._neighbours:
            self._movie_neighbours = tf.Variable(tables.movie_neighbours, trainable=False,
                                                 name='movie_neighbours')
            self._neighbour_similarity = tf.Variable(tables.movie_neighbour_similarity,
                                                     trainable=False, name='neighbour_similarity')
            self._rated_residuals = tf.Variable(tables.rated_residuals, trainable=False,
                                                shape=tf.TensorShape([None]),
                                                name='rated_residuals')
            self.neighbour_global_weight = tf.Variable(tf.zeros([members]), trainable=True,
                                                       name='neighbour_global_weight')
            self.neighbour_weight = _embedding(num_movies, members, 'neighbour_weight', 'zeros')
        self.mlp = _member_mlp(hparams.hidden_units, hparams.dropout)
        self.biased_mf = BiasedMF(num_users, num_movies, hparams.biased_mf_penalties, dim,
                                  tables) if hparams.biased_mf_penalties else None
        self.member_kinds = (HYBRID_MEMBER,) * members + (
            self.biased_mf.member_kinds if self.biased_mf else ())

    def use_tables(self, tables: CatalogTables):
        """Replaces the rated-movie samples and the neighbour tables, and restarts the global
        mean from the tables' mean rating: a refit's, which has seen more ratings. Table
        inputs computed before this call (table_inputs) are stale. The side features stay:
        they come from train, which holds every user and movie of the vocabulary."""
        self._rated_movies.assign(tables.rated_movies)
        self._rated_ratings.assign(tables.rated_ratings)
        self._rated_row_splits.assign(tables.rated_row_splits)
        self.global_mean.assign(tf.fill(self.global_mean.shape, tables.rating_mean))
        if self.biased_mf is not None:
            self.biased_mf.use_tables(tables)
        if self._neighbours:
            self._movie_neighbours.assign(tables.movie_neighbours)
            self._neighbour_similarity.assign(tables.movie_neighbour_similarity)
            self._rated_residuals.assign(tables.rated_residuals)

    def _user_side(self, user_index):
        """The sum of the user's side-feature embeddings; 0 where the release records none."""
        if not self.user_side_embeddings:
            return 0.0
        return tf.add_n([embedding(tf.gather(self._user_features[name], user_index))
                         for name, embedding in self.user_side_embeddings.items()])

    def _movie_side(self, movie_index):
        genres = tf.gather(self._genres, movie_index)
        present = tf.cast(genres != self._genre_padding, tf.float32)[..., tf.newaxis]
        genre_sum = tf.reduce_sum(self.genre_embedding(genres) * present, axis=1)
        genre_mean = genre_sum / tf.maximum(tf.reduce_sum(present, axis=1), 1.0)
        year = tf.gather(self._year, movie_index)[:, tf.newaxis]
        return genre_mean + self.year_projection(year)

    def _implicit_feedback(self, user_index):
        """|N(u)|^-1/2 * sum of the implicit embeddings of the movies user u rated; with
        explicit_feedback, plus the same sum of the movies' explicit embeddings, each weighted
        by how much more than their mean the user liked the movie (as in Koren's asymmetric
        SVD: a user is described by what they rated and how).

        A batch holds many ratings of the same few users, and their rated lists name the same
        movies again and again: each sum is a sparse (users x movies) matrix times the
        embeddings of the distinct movies, so that neither the lookups nor their gradients
        repeat a row per rating.
        """
        users, position = tf.unique(user_index)
        rated = tf.gather(tf.RaggedTensor.from_row_splits(
            self._rated_movies, self._rated_row_splits, validate=False), users)
        movies, column = _ascending_unique(rated.flat_values, self.implicit_embedding.input_dim)
        row = rated.value_rowids()
        scale = tf.math.rsqrt(tf.maximum(tf.cast(rated.row_lengths(), tf.float32), 1.0))
        weight = tf.gather(scale, row)
        indices = tf.stack([row, column], axis=1)
        shape = tf.stack([tf.size(users, out_type=tf.int64), tf.size(movies, out_type=tf.int64)])

        def summed(embedding, values):
            return tf.sparse.sparse_dense_matmul(tf.SparseTensor(indices, values, shape),
                                                 embedding(movies))

        total = summed(self.implicit_embedding, weight)
        if self._explicit:
            ratings = tf.gather(tf.RaggedTensor.from_row_splits(
                self._rated_ratings, self._rated_row_splits, validate=False), users)
            total += summed(self.explicit_embedding, weight * ratings.flat_values)
        return tf.gather(total, position)

    @property
    def table_input_names(self):
        """The keys of table_inputs."""
        return (NEIGHBOURHOOD_AVERAGE,) if self._neighbours else ()

    def table_inputs(self, user_index, movie_index):
        """Per (user, movie) pair, what call computes from the tables alone, which training
        does not change: the item-item term's average. The Trainer computes it once for
        each split it reads, with the tables the fit rates with, and passes it to call,
        rather than computing it at every step of every epoch (about a sixth of a step's
        time at 10M ratings)."""
        if not self._neighbours:
            return {}
        return {NEIGHBOURHOOD_AVERAGE: self.neighbourhood_average(user_index, movie_index)}

    def neighbourhood_average(self, user_index, movie_index):
        """[batch]: the item-item term's average, as KNNBaseline's. Over the movie's
        `neighbours` most similar movies that the user rated, the similarity-weighted mean of
        the user's baseline residuals on them, shrunk towards 0 when few are found. The
        similarities are fixed, computed from the ratings (trainer.movie_neighbours): learnt
        weights per pair overfit here."""
        users, position = tf.unique(user_index)

        def per_example(values, padding):
            rows = tf.gather(tf.RaggedTensor.from_row_splits(
                values, self._rated_row_splits, validate=False), users).to_tensor(padding)
            # One padding column more, so that a search past the last movie finds padding.
            rows = tf.pad(rows, [[0, 0], [0, 1]], constant_values=padding)
            return tf.gather(rows, position)

        # Padding above every movie index keeps each row sorted for the search.
        rated = per_example(self._rated_movies, tf.cast(tf.shape(self._movie_neighbours)[0],
                                                        self._rated_movies.dtype))
        residuals = per_example(self._rated_residuals, 0.0)
        neighbours = tf.cast(tf.gather(self._movie_neighbours, movie_index), rated.dtype)
        slot = tf.searchsorted(rated, neighbours)
        found = tf.gather(rated, slot, batch_dims=1) == neighbours
        similarity = tf.where(found, tf.gather(self._neighbour_similarity, movie_index), 0.0)
        residual = tf.gather(residuals, slot, batch_dims=1)
        return tf.reduce_sum(similarity * residual, axis=1) / (
            tf.reduce_sum(tf.abs(similarity), axis=1) + 1.0)

    def _neighbourhood(self, user_index, movie_index, average=None):
        """[batch, members]: the item-item term, neighbourhood_average (computed here unless
        given) times how much each member learnt to trust it, overall and per movie."""
        if average is None:
            average = self.neighbourhood_average(user_index, movie_index)
        weight = self.neighbour_global_weight + self.neighbour_weight(movie_index)
        return weight * average[:, tf.newaxis]

    def _user_vector(self, user_index, implicit_feedback):
        """[batch, members, dim]; implicit_feedback is _implicit_feedback, or for one user
        _implicit_feedback_of_user. Called here, after the lookups: the order in which a
        trace makes its ops sets the seeds of the dropout ops after them, and so the model
        that a seed trains."""
        return _per_member(self.user_embedding(user_index) + self._user_side(user_index)
                           + implicit_feedback(user_index), self._member_shape)

    def _movie_vector(self, movie_index):
        """[batch, members, dim]."""
        return _per_member(self.movie_embedding(movie_index) + self._movie_side(movie_index),
                           self._member_shape)

    def call(self, user_index, movie_index, training=False, neighbourhood_average=None):
        """[batch, members] ratings; neighbourhood_average: table_inputs' of the pairs, if
        computed already."""
        user_vector = self._user_vector(user_index, self._implicit_feedback)
        movie_vector = self._movie_vector(movie_index)
        interaction = tf.reduce_sum(user_vector * movie_vector, axis=2)
        mlp = _mlp_of_pairs(self.mlp, user_vector, movie_vector, training)
        biases = self.user_bias(user_index) + self.movie_bias(movie_index)
        if self._neighbours:
            biases += self._neighbourhood(user_index, movie_index, neighbourhood_average)
        return self._with_biased_mf(self.global_mean + biases + interaction + mlp,
                                    lambda mf: mf(user_index, movie_index, training=training))

    def _with_biased_mf(self, ratings, biased_mf_ratings):
        """[batch, members]: the hybrid members' ratings, then the biased MF members'."""
        if self.biased_mf is None:
            return ratings
        return tf.concat([ratings, biased_mf_ratings(self.biased_mf)], axis=1)

    def movie_terms(self, movie_index):
        """The terms of each movie's rating that do not depend on the user, for rate_movies:
        its vector, its bias, its half of the MLP's first layer, and for the item-item term
        its weight and, by neighbour, the movies whose neighbour it is (see
        _neighbourhood_of_user)."""
        movie_vector = self._movie_vector(movie_index)
        terms = {MOVIE_VECTOR: _members_first(movie_vector),
                 MOVIE_BIAS: self.movie_bias(movie_index),
                 MLP_MOVIE_HALF: _mlp_movie_half(self.mlp, movie_vector)}
        if self._neighbours:
            terms[NEIGHBOUR_WEIGHT] = (self.neighbour_global_weight
                                       + self.neighbour_weight(movie_index))
            terms.update(self._neighbours_inverted(movie_index))
        if self.biased_mf is not None:
            terms.update(self.biased_mf.movie_terms(movie_index))
        return terms

    def _neighbours_inverted(self, movie_index):
        """By neighbour, in CSR form: the positions in movie_index of the movies whose
        neighbour it is, and the similarity and its absolute value of each such pair."""
        neighbours = tf.gather(self._movie_neighbours, movie_index)
        listed = neighbours >= 0  # -1 pads
        neighbour = tf.boolean_mask(neighbours, listed)
        position = tf.where(listed)[:, 0]  # the row of each, in boolean_mask's order
        similarity = tf.boolean_mask(tf.gather(self._neighbour_similarity, movie_index), listed)
        order = tf.argsort(neighbour, stable=True)
        counts = tf.math.bincount(
            neighbour, minlength=tf.shape(self._movie_neighbours, out_type=tf.int64)[0],
            dtype=tf.int64)
        return {NEIGHBOUR_OF: tf.gather(position, order),
                NEIGHBOUR_OF_SIMILARITY: tf.gather(tf.stack(
                    [similarity, tf.abs(similarity)], axis=1), order),
                NEIGHBOUR_OF_ROW_SPLITS: tf.concat([[0], tf.cumsum(counts)], axis=0)}

    def rate_movies(self, user_index, movie_terms):
        """[movies, members]: call's ratings of one user (user_index: [1]) for the movies of
        `movie_terms`, computing only the user's side."""
        user_vector = self._user_vector(user_index, self._implicit_feedback_of_user)
        interaction = _dot_of_user(user_vector, movie_terms[MOVIE_VECTOR])
        mlp = _mlp_of_user(self.mlp, user_vector, movie_terms[MLP_MOVIE_HALF])
        biases = self.user_bias(user_index) + movie_terms[MOVIE_BIAS]
        if self._neighbours:
            biases += self._neighbourhood_of_user(user_index[0], movie_terms)
        return self._with_biased_mf(self.global_mean + biases + interaction + mlp,
                                    lambda mf: mf.rate_movies(user_index, movie_terms))

    def _rated_by(self, user):
        """The slice of the rated-movie lists (rated_movies, ...) that holds user's."""
        return slice(self._rated_row_splits[user], self._rated_row_splits[user + 1])

    def _implicit_feedback_of_user(self, user_index):
        """[1, members * dim]: _implicit_feedback of one user (user_index: [1]), from a slice
        of the lists: for one user, the ragged gather that serves a batch costs more than the
        sums."""
        rated = self._rated_by(user_index[0])
        movies = self._rated_movies[rated]
        total = tf.reduce_sum(self.implicit_embedding(movies), axis=0)
        if self._explicit:
            total += tf.reduce_sum(self.explicit_embedding(movies)
                                   * self._rated_ratings[rated][:, tf.newaxis], axis=0)
        count = tf.cast(tf.size(movies), tf.float32)
        return (total * tf.math.rsqrt(tf.maximum(count, 1.0)))[tf.newaxis]

    def _neighbourhood_of_user(self, user, movie_terms):
        """[movies, members]: _neighbourhood's term of one user for the movies of movie_terms.

        neighbourhood_average looks each movie's neighbours up among the user's rated movies.
        Here each of the user's rated movies adds its residual to the movies whose neighbour
        it is, from the inverted neighbour lists: about neighbours x rated movies additions
        instead of neighbours x catalog lookups. The sums' order differs, by rounding only.
        """
        rated = tf.cast(self._rated_movies[self._rated_by(user)], tf.int64)
        residuals = self._rated_residuals[self._rated_by(user)]
        # A movie listed twice counts once, as neighbourhood_average's search finds it once;
        # the list is in movie order, so its copies are adjacent.
        first = tf.not_equal(rated, tf.concat([[-1], rated], axis=0)[:-1])
        rated, residuals = tf.boolean_mask(rated, first), tf.boolean_mask(residuals, first)
        row_splits = movie_terms[NEIGHBOUR_OF_ROW_SPLITS]
        pairs = tf.ragged.range(tf.gather(row_splits, rated), tf.gather(row_splits, rated + 1))
        # Per pair: (similarity x residual, |similarity| x 1), summed by movie.
        contributions = tf.gather(movie_terms[NEIGHBOUR_OF_SIMILARITY], pairs.flat_values) * \
            tf.gather(tf.stack([residuals, tf.ones_like(residuals)], axis=1),
                      pairs.value_rowids())
        sums = tf.math.unsorted_segment_sum(
            contributions, tf.gather(movie_terms[NEIGHBOUR_OF], pairs.flat_values),
            tf.shape(movie_terms[MOVIE_BIAS], out_type=tf.int64)[0])
        average = sums[:, 0] / (sums[:, 1] + 1.0)
        return movie_terms[NEIGHBOUR_WEIGHT] * average[:, tf.newaxis]


def build(hparams: Hyperparameters, num_users: int, num_movies: int,
          tables: CatalogTables, scale: RatingScale) -> RankingModel:
    """An ensemble of `ensemble_size` models of the architecture hparams names (and, for the
    hybrid, one BiasedMF member per biased_mf_penalties entry), rating on `scale`; sizes
    count the OOV row."""
    if hparams.architecture == 'notebook':
        return RankingModel(NotebookScorer(num_users, num_movies, hparams), scale)
    if hparams.architecture == 'hybrid':
        return RankingModel(HybridScorer(num_users, num_movies, tables, hparams), scale)
    raise ValueError(f"Unknown architecture {hparams.architecture!r}: use 'notebook' or 'hybrid'.")
