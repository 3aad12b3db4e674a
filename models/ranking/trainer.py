"""The Trainer's entry point: `run_fn` trains the ranking model and exports the SavedModel.

Referenced by dotted path (models.ranking.trainer.run_fn), so the same code runs locally
and in the Kubeflow image.
"""
import concurrent.futures
import dataclasses
import json
import math
import os
import threading
import time
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from models import artifacts, features, schema
from models.ranking import bias_baseline, catalog, signatures
from models.ranking import model as ranking_model
from models.ranking.hyperparameters import Hyperparameters
from models.ranking.lazy_adam import CatchUpDecay, LazyAdam, catch_up_rows


def leave_libraries_to_autograph():
    """Stops AutoGraph from rewriting Keras, TFRS and tf.Transform internals on every trace.

    AutoGraph leaves modules it knows as library code alone. Since TF 2.16, Keras 2 is the
    separate package tf_keras, which it no longer recognises, so each tf.function trace
    converted the whole of Keras: tracing the train step took about 20 s here instead of
    1 s, and reading a split through the Transform layer (a Keras layer) several seconds.
    None of these libraries has tensor-dependent Python control flow that needs conversion.
    Called when the Trainer starts, not on import: importing this module changes nothing.
    """
    from tensorflow.python.autograph.core import config as autograph_config
    libraries = ('tf_keras', 'tensorflow_recommenders', 'tensorflow_transform')
    if not any(str(rule) == str(autograph_config.DoNotConvert(libraries[0]))
               for rule in autograph_config.CONVERSION_RULES):
        autograph_config.CONVERSION_RULES = tuple(
            autograph_config.DoNotConvert(name) for name in libraries
        ) + autograph_config.CONVERSION_RULES


_READ_BATCH = 8192
_TRAINING_COLUMNS = (features.USER_INDEX, features.MOVIE_INDEX, features.LABEL)


# What training reads: the ids and label of every rating, and from the train split also the
# side features that fill the catalog tables. The slice buckets are for the Evaluator only.
_TABLE_COLUMNS = features.USER_SIDE_FEATURES + (features.MOVIE_GENRE_INDICES,
                                                features.MOVIE_YEAR)
TRAIN_COLUMNS = _TRAINING_COLUMNS + _TABLE_COLUMNS
EVAL_COLUMNS = _TRAINING_COLUMNS


def read_split(file_pattern, data_accessor, tf_transform_output, columns=TRAIN_COLUMNS,
               titles: Optional[Dict[int, bytes]] = None) -> Dict[str, np.ndarray]:
    """Reads a split of raw examples, applies the Transform graph and keeps some of the
    transformed columns in memory, one array per feature. Columns the release does not
    have (user side features of MovieLens 10M, ...) are left out.

    Transform does not write transformed examples (materialize=False): each split is read
    once, here, so writing and re-reading a transformed copy would only add work. A few
    numeric columns fit easily, even at tens of millions of ratings; holding them lets
    every epoch shuffle fully without re-parsing tf.Examples. Given a `titles` dict, the
    same pass fills it with the raw title of each movie index (see catalog.py).
    """
    transform = tf_transform_output.transform_features_layer()
    movies = tf_transform_output.vocabulary_size_by_name(
        features.VOCABULARY_OF[features.MOVIE_INDEX])

    def kept(raw):
        transformed = {key: value for key, value in transform(raw).items() if key in columns}
        if titles is not None:
            transformed[features.MOVIE_TITLE] = tf.reshape(raw[features.MOVIE_TITLE], [-1])
        return transformed

    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        # In file order: the SVD++ sample and the epochs' permutations depend on row order,
        # and the seed must fix them. reader_num_threads=None reads the files in the
        # thread that batches the records: tfxio's default reader thread hands each record
        # over on its own, a thread wake-up per record, most of the time reading took.
        tfxio.TensorFlowDatasetOptions(batch_size=_READ_BATCH, num_epochs=1, shuffle=False,
                                       reader_num_threads=None),
        tf_transform_output.raw_metadata.schema)
    # The Transform graph on two batches at once, in order, beside the loop below.
    dataset = _prefetched(dataset.map(kept, num_parallel_calls=2, deterministic=True))
    batches = []
    for batch in dataset:
        batch = dict(batch)
        if titles is not None:
            catalog.titles_by_index(movies, batch[features.MOVIE_INDEX].numpy(),
                                    batch.pop(features.MOVIE_TITLE).numpy(), titles)
        if features.MOVIE_GENRE_INDICES in batch:
            batch[features.MOVIE_GENRE_INDICES] = tf.sparse.to_dense(
                batch[features.MOVIE_GENRE_INDICES], default_value=-1)
        batches.append({key: value.numpy() for key, value in batch.items()})
    return concatenate(batches)


def concatenate(batches) -> Dict[str, np.ndarray]:
    """Joins batches of columns; genre lists are padded with -1 to the longest one.

    Empties the batches as it goes, so that a column's batches are freed once joined.
    """
    if features.MOVIE_GENRE_INDICES in batches[0]:
        width = max(b[features.MOVIE_GENRE_INDICES].shape[1] for b in batches)
        batches = [dict(b, **{features.MOVIE_GENRE_INDICES: np.pad(
            b[features.MOVIE_GENRE_INDICES],
            ((0, 0), (0, width - b[features.MOVIE_GENRE_INDICES].shape[1])),
            constant_values=-1)}) for b in batches]
    return {key: np.concatenate([b.pop(key) for b in batches]) for key in list(batches[0])}


def vocabulary_sizes(tf_transform_output) -> Dict[str, int]:
    """Index count of each categorical feature preprocessing_fn made, its OOV bucket
    included: a release without a user side feature has no vocabulary of it either."""
    made = tf_transform_output.transformed_feature_spec()
    return {key: tf_transform_output.vocabulary_size_by_name(name) + features.NUM_OOV_BUCKETS
            for key, name in features.VOCABULARY_OF.items() if key in made}


def rated_movies_sample(user_index: np.ndarray, movie_index: np.ndarray, users: int,
                        limit: int, seed: int):
    """Up to `limit` of each user's rated movies, drawn at random, in CSR form.

    A training step looks up the implicit embedding of every movie each user in the batch
    has rated, so an uncapped list makes the step's cost grow with the heaviest users'
    ratings; a sample of about a hundred describes a user's taste almost as well.
    """
    kept, row_splits = rated_sample_rows(user_index, users, limit, seed)
    return movie_index[kept], row_splits


def rated_sample_rows(user_index: np.ndarray, users: int, limit: int, seed: int):
    """The rows of rated_movies_sample, grouped by user, and their CSR row splits."""
    order = np.lexsort((np.random.default_rng(seed).random(len(user_index)), user_index))
    counts = np.bincount(user_index, minlength=users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank_in_user = np.arange(len(order)) - starts[user_index[order]]
    kept = order[rank_in_user < limit]
    row_splits = np.concatenate([[0], np.cumsum(np.minimum(counts, limit))])
    return kept, row_splits.astype(np.int64)


def centred_ratings(user_index: np.ndarray, ratings: np.ndarray, users: int) -> np.ndarray:
    """Each rating minus its user's mean rating: how much more the user liked the movie than
    they like movies in general."""
    ratings = np.asarray(ratings, np.float64)
    counts = np.maximum(np.bincount(user_index, minlength=users), 1)
    return (ratings - (np.bincount(user_index, ratings, users) / counts)[user_index]).astype(
        np.float32)


def baseline_residuals(user_index: np.ndarray, movie_index: np.ndarray, ratings: np.ndarray,
                       users: int, movies: int, shrinkage: float = 25.0) -> np.ndarray:
    """Each rating minus its user's mean and then the movie's (shrunk) mean of what is left:
    what no bias explains, which is what an item-item term should average."""
    centred = centred_ratings(user_index, ratings, users).astype(np.float64)
    movie_sum = np.bincount(movie_index, centred, movies)
    movie_count = np.bincount(movie_index, minlength=movies)
    return (centred - (movie_sum / (movie_count + shrinkage))[movie_index]).astype(np.float32)


# A user's ratings that count towards the item-item similarities, at most: the work grows
# with the square of each user's count, and a few heavy users would otherwise dominate it.
# Item-item recommenders cap users so (Apache Mahout's maxPrefsPerUser is 1,000 too); no user
# of MovieLens 100K reaches it.
NEIGHBOUR_RATINGS_PER_USER = 1000


def movie_neighbours(user_index: np.ndarray, movie_index: np.ndarray, residuals: np.ndarray,
                     users: int, movies: int, count: int, shrinkage: float = 100.0,
                     ratings_per_user: int = NEIGHBOUR_RATINGS_PER_USER, seed: int = 0):
    """([movies, count] indices, [movies, count] similarities): each movie's `count` most
    similar other movies, best first; -1 (similarity 0) pads where there are fewer.

    Similarity is the cosine of the two movies' baseline residuals, shrunk towards 0 by
    n / (n + shrinkage) for n users who rated both, so that a pair seen together twice does
    not outrank a pair seen together a hundred times (as KNNBaseline's pearson_baseline).
    A user with more than `ratings_per_user` ratings counts with that many, drawn at random.
    Computed a block of movies at a time, so that memory grows with movies x block, not
    movies squared, and in place: each of a block's dense arrays holds 20M floats (80 MB),
    and its two products are computed at once.
    """
    import scipy.sparse
    neighbours = np.full((movies, count), -1, np.int64)
    similarities = np.zeros((movies, count), np.float32)
    if not count or movies < 2:
        return neighbours, similarities
    if len(user_index) and np.bincount(user_index).max() > ratings_per_user:
        kept_rows, _ = rated_sample_rows(user_index, users, ratings_per_user, seed)
        user_index, movie_index = user_index[kept_rows], movie_index[kept_rows]
        residuals = residuals[kept_rows]
    ratings = scipy.sparse.csc_matrix((residuals.astype(np.float32),
                                       (user_index, movie_index)), shape=(users, movies))
    rated = scipy.sparse.csc_matrix((np.ones(len(user_index), np.float32),
                                     (user_index, movie_index)), shape=(users, movies))
    norms = np.sqrt(np.asarray(ratings.multiply(ratings).sum(axis=0))).ravel() + 1e-6
    kept = min(count, movies - 1)
    block = max(1, 20_000_000 // movies)

    def block_products(matrix, start, stop):
        return (matrix[:, start:stop].T @ matrix).toarray()

    # The two sparse products are most of the work, and SciPy releases the GIL in them: a
    # thread each.
    with concurrent.futures.ThreadPoolExecutor(1) as other_thread:
        for start in range(0, movies, block):
            stop = min(start + block, movies)
            together = other_thread.submit(block_products, rated, start, stop)
            # similarity = products / (norm x norm) x together / (together + shrinkage)
            similarity = block_products(ratings, start, stop)
            similarity /= np.outer(norms[start:stop], norms)
            together = together.result()
            similarity *= np.divide(together, together + shrinkage, out=together)
            del together
            similarity[np.arange(stop - start), np.arange(start, stop)] = -np.inf
            np.negative(similarity, out=similarity)
            best = np.argpartition(similarity, kept - 1, axis=1)[:, :kept]
            best_similarity = -np.take_along_axis(similarity, best, axis=1)
            order = np.argsort(-best_similarity, axis=1)
            neighbours[start:stop, :kept] = np.take_along_axis(best, order, axis=1)
            similarities[start:stop, :kept] = np.take_along_axis(best_similarity, order, axis=1)
    return neighbours, similarities


def build_catalog_tables(train: Dict[str, np.ndarray], sizes: Dict[str, int],
                         implicit_feedback_limit: int, seed: int,
                         also_seen: Optional[Dict[str, np.ndarray]] = None,
                         neighbours: int = 0):
    """Side features per user and per movie, and a sample of each user's rated movies, from
    training.

    A user's side features are the same on every one of their ratings (likewise a movie's),
    so one example each suffices. Rows of users or movies not in the training data, and the
    OOV row, get each side feature's OOV index. `also_seen`, the eval split's ids and
    ratings when the model is refitted on train + eval, joins the rated samples, the rating
    counts and the mean rating; it adds no side features, since every user and movie of the
    vocabulary (built on train) has them from train already.
    """
    def table(owner_index, rows, column, oov_value):
        shape = (rows,) + column.shape[1:]
        values = np.full(shape, oov_value, dtype=column.dtype)
        values[owner_index] = column  # later duplicates overwrite with identical values
        return values

    users, movies = sizes[features.USER_INDEX], sizes[features.MOVIE_INDEX]
    user_index, movie_index = train[features.USER_INDEX], train[features.MOVIE_INDEX]
    genre_padding = sizes[features.MOVIE_GENRE_INDICES]
    genres = np.where(train[features.MOVIE_GENRE_INDICES] < 0, genre_padding,
                      train[features.MOVIE_GENRE_INDICES])
    seen = train if also_seen is None else concatenate_ratings(train, also_seen)
    rated_rows, rated_row_splits = rated_sample_rows(seen[features.USER_INDEX], users,
                                                     implicit_feedback_limit, seed)
    # Each user's movies in index order, where the neighbourhood term looks them up.
    rated_rows = rated_rows[np.lexsort((seen[features.MOVIE_INDEX][rated_rows],
                                        seen[features.USER_INDEX][rated_rows]))]
    centred = centred_ratings(seen[features.USER_INDEX], seen[features.LABEL], users)
    residuals = baseline_residuals(seen[features.USER_INDEX], seen[features.MOVIE_INDEX],
                                   seen[features.LABEL], users, movies)
    neighbour_index, neighbour_similarity = movie_neighbours(
        seen[features.USER_INDEX], seen[features.MOVIE_INDEX], residuals, users, movies,
        neighbours, seed=seed)
    return ranking_model.CatalogTables(
        user_features={name: table(user_index, users, train[name], sizes[name] - 1)
                       for name in features.USER_SIDE_FEATURES if name in sizes},
        movie_genres=table(movie_index, movies, genres, genre_padding),
        movie_year=table(movie_index, movies, train[features.MOVIE_YEAR].astype(np.float32),
                         0.0),
        rated_movies=seen[features.MOVIE_INDEX][rated_rows],
        rated_ratings=centred[rated_rows],
        rated_row_splits=rated_row_splits,
        rated_residuals=residuals[rated_rows],
        movie_neighbours=neighbour_index,
        movie_neighbour_similarity=neighbour_similarity,
        user_ratings=np.bincount(seen[features.USER_INDEX], minlength=users).astype(np.float32),
        movie_ratings=np.bincount(seen[features.MOVIE_INDEX],
                                  minlength=movies).astype(np.float32),
        vocabulary_sizes=sizes,
        rating_mean=float(seen[features.LABEL].mean()),
    )


def in_background(function, *args, **kwargs) -> concurrent.futures.Future:
    """function(*args, **kwargs) in a thread of its own, as a future: the Trainer's NumPy
    and SciPy work (the bias baseline beside the catalog tables) mostly releases the GIL,
    so both cores work. A daemon thread: a process that is ending (Ctrl-C, an error) does
    not wait for work whose result nobody will read."""
    future = concurrent.futures.Future()
    future.set_running_or_notify_cancel()

    def run():
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as error:  # handed to whoever waits for the result
            future.set_exception(error)

    threading.Thread(target=run, name=getattr(function, '__name__', None), daemon=True).start()
    return future


def concatenate_ratings(*splits: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The ids and ratings of several splits, one after the other."""
    return {key: np.concatenate([split[key] for split in splits]) for key in _TRAINING_COLUMNS}


def with_table_inputs(scorer, split: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The ids and labels of a split, and the scorer's table_inputs of each of its pairs, as
    the scorer's tables now stand: what fit and evaluate read."""
    columns = {key: split[key] for key in _TRAINING_COLUMNS}
    if not scorer.table_input_names:
        return columns
    inputs = tf.function(scorer.table_inputs, reduce_retracing=True)
    ids = tf.data.Dataset.from_tensor_slices(
        (split[features.USER_INDEX], split[features.MOVIE_INDEX])).batch(_READ_BATCH)
    return dict(columns, **concatenate([{key: value.numpy() for key, value in
                                         inputs(*batch).items()} for batch in _prefetched(ids)]))


def _training_tensors(split: Dict[str, np.ndarray]) -> Dict[str, tf.Tensor]:
    """The columns of a split (with_table_inputs'), as tensors."""
    return {key: tf.constant(column) for key, column in split.items()}


def _prefetched(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Two batches made ahead of the step that takes them, without tf.data's autotuning:
    the thread that tunes the buffer sleeps up to a minute between rounds, and the teardown
    of an iterator at the end of fit waited for it to wake (20-57 s at 10M ratings)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def eval_batches(split: Dict[str, np.ndarray]) -> tf.data.Dataset:
    """The columns of a split (its ids and labels, and any table inputs) in batches, once
    through, in order."""
    return _prefetched(tf.data.Dataset.from_tensor_slices(_training_tensors(split)).batch(
        _READ_BATCH))


def training_batches(split: Dict[str, np.ndarray], batch_size: int,
                     seed: int) -> tf.data.Dataset:
    """The columns of a split (its ids and labels, and any table inputs) in batches, epoch
    after epoch without end, each epoch in a new random order; fit takes batches_per_epoch
    of them an epoch.

    The order is a permutation of row numbers drawn per epoch in numpy: a tf.data shuffle
    buffer as large as the split would hold every example as separate tensors, several
    times the memory of the columns themselves. Endless, so that fit keeps one iterator
    (and its prefetching) across epochs rather than making one each epoch, and never
    calls the train step on a spent iterator, which counted as an optimizer step.
    """
    columns = _training_tensors(split)
    count = len(split[features.LABEL])
    generator = np.random.default_rng(seed)

    def epochs_order():
        while True:
            order = generator.permutation(count)
            for start in range(0, count, batch_size):
                yield order[start:start + batch_size]

    rows = tf.data.Dataset.from_generator(
        epochs_order, output_signature=tf.TensorSpec([None], tf.int64))
    return _prefetched(rows.map(lambda index: {key: tf.gather(column, index)
                                               for key, column in columns.items()}))


def batches_per_epoch(examples: int, batch_size: int) -> int:
    """The batches of one epoch of training_batches (the last may be short); at least one."""
    return max(1, math.ceil(examples / batch_size))


def training_batch_size(hparams: Hyperparameters, train_examples: int) -> int:
    """Examples per training step for a train split of this size: batch_size, or the batch
    of the largest of larger_batches' sizes that the split reaches. The refit keeps the
    fit's batch, as it keeps its epochs."""
    reached = [(examples, batch) for examples, batch in hparams.larger_batches
               if train_examples >= examples]
    return max(reached)[1] if reached else hparams.batch_size


def optimizer(hparams: Hyperparameters, epoch_batches: int):
    """The optimizer, with adam's embedding decay spread over the epoch_batches steps of one
    epoch.

    Given per step, the same decay shrank a row ten times more between two batches that
    rated it on a data set ten times larger: at 10M ratings the rows shrank faster than
    the ratings could move them, and the model fell behind the bias baseline. Per epoch,
    a row that no batch looks up keeps about exp(-learning_rate * decay) of itself
    whatever the data's size. The refit keeps this per-step decay.
    """
    if hparams.optimizer == 'adagrad':
        if hparams.embedding_decay_per_epoch:
            raise ValueError('embedding_decay_per_epoch needs optimizer adam; adagrad would '
                             'ignore it.')
        return tf.keras.optimizers.Adagrad(hparams.learning_rate)
    if hparams.optimizer == 'adam':
        adam = LazyAdam(hparams.learning_rate,
                        row_decay=hparams.embedding_decay_per_epoch / epoch_batches)
        # BiasedMF's rows have their own penalty, in the loss; decayed as well, its member
        # did worse on eval (docs/performance.md).
        adam.exclude_from_weight_decay(var_names=[ranking_model.BIASED_MF_VARIABLES])
        return adam
    raise ValueError(f"Unknown optimizer {hparams.optimizer!r}: use 'adagrad' or 'adam'.")


def fit_bias_baseline(hparams: Hyperparameters, train_split, eval_split, sizes,
                      scale: schema.RatingScale):
    """The user + item bias baseline of the same train split, its regularisation chosen
    on eval, and the eval RMSE of that choice. With refit_on_eval, the baseline returned is
    then refitted with that regularisation on train + eval, the data the served model saw.
    """
    def ratings(split):
        return split[features.USER_INDEX], split[features.MOVIE_INDEX], split[features.LABEL]

    users, movies = sizes[features.USER_INDEX], sizes[features.MOVIE_INDEX]
    baseline, eval_rmse = bias_baseline.fit_chosen_on_eval(
        ratings(train_split), ratings(eval_split), users, movies,
        hparams.bias_baseline_regularisation, scale)
    chosen_eval_rmse = eval_rmse[baseline.regularisation]
    if hparams.refit_on_eval:
        baseline = bias_baseline.fit(*ratings(concatenate_ratings(train_split, eval_split)),
                                     users, movies, baseline.regularisation)
    return baseline, chosen_eval_rmse


class PhaseSeconds(dict):
    """Wall seconds of the Trainer's phases, in the order they ran: where its time goes
    besides the epochs (training_history.json)."""

    def __init__(self):
        super().__init__()
        self._last = time.perf_counter()

    def ended(self, phase: str):
        now = time.perf_counter()
        self[phase] = round(now - self._last, 1)
        self._last = now


class EpochSeconds(tf.keras.callbacks.Callback):
    """Each epoch's wall seconds, its evaluation included: the first also holds the tracing
    of the train step, the later ones what an epoch costs."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(round(time.perf_counter() - self._started, 3))


class EpochWeights(tf.keras.callbacks.Callback):
    """The trainable weights after each epoch that may still be averaged (average_epochs).

    With eval, those from `radius` epochs before the best eval RMSE so far: a later best
    only moves the window later. Without eval (the refit), the last 2 x radius + 1. The rows
    are brought up to date first, as for an evaluation (CatchUpDecay). At most patience +
    radius + 1 copies of the weights: about 0.7 GB at the 25M release's size.
    """

    def __init__(self, radius: int):
        super().__init__()
        self.radius = radius
        self.weights = {}  # epoch number (from 1) -> one array per trainable variable
        self._best = (math.inf, 0)

    def on_epoch_end(self, epoch, logs=None):
        catch_up_rows(self.model)
        number = epoch + 1
        self.weights[number] = [variable.numpy() for variable in self.model.trainable_variables]
        val_rmse = (logs or {}).get('val_rmse')
        if val_rmse is None:
            first = number - 2 * self.radius
        else:
            self._best = min(self._best, (val_rmse, number))
            first = self._best[1] - self.radius
        for old in [kept for kept in self.weights if kept < first]:
            del self.weights[old]


def average_epochs(model, epoch_weights: EpochWeights, first: int, last: int):
    """Sets the model's trainable weights to their mean after epochs first..last: averaged
    over neighbouring epochs, the noise of the last steps of each cancels out, as in
    stochastic weight averaging (Izmailov et al., 2018)."""
    snapshots = [epoch_weights.weights[number] for number in range(first, last + 1)]
    for index, variable in enumerate(model.trainable_variables):
        variable.assign(np.mean([snapshot[index] for snapshot in snapshots], axis=0))


def _fit(model, data, epochs, epoch_batches, log_dir, eval_data=None, patience=0,
         train_steps=None, epoch_weights: Optional[EpochWeights] = None):
    """Fits the model on `data` (training_batches: endless, `epoch_batches` an epoch); with
    eval_data, measuring it after each epoch and, given a patience, stopping early on it.
    Returns the per-epoch metrics, and their seconds."""
    timer = EpochSeconds()
    # Every epoch ends with an evaluation, so the weights fit leaves are caught up.
    callbacks = [CatchUpDecay(), timer,
                 tf.keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False)]
    if epoch_weights is not None:
        callbacks.append(epoch_weights)
    if patience and eval_data is not None:
        # Given epoch_weights, the best epoch's weights are among them: early stopping need
        # not copy every weight, the tables too, at each better epoch.
        callbacks.append(tf.keras.callbacks.EarlyStopping(
            monitor='val_rmse', patience=patience, restore_best_weights=epoch_weights is None))
    # train_steps: a hard cap on optimisation steps, used to make a deliberately weak model.
    fit_args = (dict(epochs=1, steps_per_epoch=train_steps) if train_steps else
                dict(epochs=epochs, steps_per_epoch=epoch_batches))
    history = model.fit(data, validation_data=eval_data, callbacks=callbacks, verbose=2,
                        **fit_args)
    if eval_data is None:
        catch_up_rows(model)
    metrics = {key: [float(v) for v in values] for key, values in history.history.items()}
    return metrics, timer.seconds


@dataclasses.dataclass(frozen=True)
class Blend:
    """A weighted blend of a model's members (RankingModel.use_blend), and its eval RMSE."""
    member_weights: np.ndarray
    kind_weights: Dict[str, float]  # the weight of each kind's mean rating
    offset: float
    # Cross-fitted: each half of eval rated by the blend fitted on the other half.
    eval_rmse: float


# Eval ratings per number fitted, in each half of eval, below which no blend is fitted: on a
# handful of ratings, least squares fits their noise, and the halves' RMSE says little.
_BLEND_RATINGS_PER_NUMBER = 100


def fit_blend(model, data, scale: schema.RatingScale) -> Optional[Blend]:
    """The blend of the model's members that least squares fits to `data` (eval): one weight
    for the mean rating of each kind of member, shared by its members, and an offset.

    Kinds of member err differently, and which deserves more depends on the data: fitted on
    eval, the biased MF member penalised per rating weighed 0.73 against the hybrid's 0.21
    at 1M synthetic ratings, but 0.05-0.10 against 0.49-0.50 on a generated 100K set. The
    weights also add up to more than 1 (with a negative offset): the regularised members
    rate too close to the mean, and the blend stretches their ratings back. Members of one
    kind differ only by their starting weights, so a weight of their own would fit eval's
    noise. Its eval RMSE is measured on ratings that the blend scoring them was not fitted
    to, so that a blend fitted to noise shows as no better than the plain mean. None if
    eval is too small to fit one.
    """
    score = tf.function(model.member_scores, reduce_retracing=True)
    scores, labels = [], []
    for batch in data:
        scores.append(score(batch).numpy())
        labels.append(batch[features.LABEL].numpy())
    scores, labels = np.concatenate(scores).astype(np.float64), np.concatenate(labels)
    kinds = list(dict.fromkeys(model.scorer.member_kinds))  # in the members' order
    kind = np.array([kinds.index(each) for each in model.scorer.member_kinds])
    design = np.column_stack([scores[:, kind == each].mean(axis=1)
                              for each in range(len(kinds))] + [np.ones(len(labels))])
    if len(labels) < 2 * _BLEND_RATINGS_PER_NUMBER * design.shape[1]:
        return None

    def fitted(rows):
        return np.linalg.lstsq(design[rows], labels[rows], rcond=None)[0]

    halves = np.arange(len(labels)) % 2 == 0
    crossed = np.where(halves, design @ fitted(~halves), design @ fitted(halves))
    errors = np.clip(crossed, scale.min, scale.max) - labels
    solution = fitted(np.ones(len(labels), bool))
    return Blend(member_weights=solution[kind] / np.bincount(kind)[kind],
                 kind_weights={name: float(weight) for name, weight in zip(kinds, solution)},
                 offset=float(solution[-1]), eval_rmse=float(np.sqrt(np.mean(errors ** 2))))


def best_epochs(epochs_history: Dict[str, list]) -> int:
    """How many epochs gave the lowest eval RMSE: the weights early stopping kept."""
    return int(np.argmin(epochs_history['val_rmse'])) + 1


def train(hparams: Hyperparameters, train_split, eval_split, sizes, scale: schema.RatingScale,
          log_dir, train_steps=None, phases: Optional[PhaseSeconds] = None,
          wait_for: Sequence[concurrent.futures.Future] = ()):
    """Fits the model (an ensemble of `ensemble_size` members, and a BiasedMF member per
    biased_mf_penalties entry, trained together), rating on the release's scale.

    The model is fitted on train, stopping early on eval; with averaged_epochs_around_best
    k, its weights are then the mean of those after the k epochs before the best, the best
    and the k after it, if that mean does better on eval than the best epoch's weights
    (else those). With blend_on_eval, the members are then blended as fit_blend fits them
    on eval, if that does better on eval (cross-fitted) than their mean. With
    refit_on_eval, the model is then fitted again from its starting weights on train +
    eval, for as many epochs as that fit used (the best, or the last averaged), averaged
    over the same epochs and blended alike, and that fit is returned: the served model sees
    all the data but the test split, while the eval RMSE reported stays that of the first
    fit, whose weights never saw eval (and whose blend is scored cross-fitted). The refit's
    SVD++ samples and starting mean, its neighbour tables and the table inputs computed
    from them, and the rating counts of BiasedMF's penalty include eval's ratings, as its
    bias baseline does (fit_bias_baseline). The refit restarts the same model, rather than
    building another, so that the traced train step is reused: tracing it again would cost
    about as much as the refit's training.

    The side-feature columns of train_split move into the model's tables: they are removed
    from the dict, so that fit does not hold them too (hundreds of MB at 10M ratings).
    Work started in the background beside the tables (`wait_for`, as run_fn's bias
    baseline) is waited for before the fit: it would compete with the fit for the cores, and
    its error would come only after the whole fit. The seconds of each phase go into
    `phases` (a new PhaseSeconds if None), which is also the history's 'phase_seconds'.

    Returns the model and its history: the per-epoch metrics of the early-stopped fit (of
    the members' plain mean), the eval RMSE of its weights (and blend), the blend if kept,
    what the refit saw, and the seconds of each phase.
    """
    leave_libraries_to_autograph()
    if hparams.early_stopping_patience < hparams.averaged_epochs_around_best:
        raise ValueError(
            f'averaged_epochs_around_best {hparams.averaged_epochs_around_best} needs an '
            f'early_stopping_patience of at least as many epochs (it is '
            f'{hparams.early_stopping_patience}): with less, early stopping would end the '
            'fit before the epochs after the best that it averages; without it, every '
            'epoch after the best would be kept in memory. Set both in pipeline/configs.py.')
    tf.keras.utils.set_random_seed(hparams.seed)
    phases = PhaseSeconds() if phases is None else phases
    refit = hparams.refit_on_eval and not train_steps
    tables = build_catalog_tables(train_split, sizes, hparams.implicit_feedback_limit,
                                  hparams.seed, neighbours=hparams.neighbours)
    # One after the other: built together, they took 1.7 GB more at 10M ratings and
    # little less time, since each already keeps both cores busy.
    refit_tables = build_catalog_tables(
        train_split, sizes, hparams.implicit_feedback_limit, hparams.seed,
        also_seen=eval_split, neighbours=hparams.neighbours) if refit else None
    for work in wait_for:
        work.result()
    for column in _TABLE_COLUMNS:
        train_split.pop(column, None)
    phases.ended('tables')
    model = ranking_model.build(hparams, sizes[features.USER_INDEX],
                                sizes[features.MOVIE_INDEX], tables, scale)
    train_examples = len(train_split[features.LABEL])
    batch = training_batch_size(hparams, train_examples)
    epoch_batches = batches_per_epoch(train_examples, batch)
    model.compile(optimizer=optimizer(hparams, epoch_batches))
    eval_data = eval_batches(with_table_inputs(model.scorer, eval_split))
    model(next(iter(eval_data)))  # builds the weights, to keep their starting values
    starting_weights = [variable.numpy() for variable in model.weights] if refit else None
    radius = 0 if train_steps else hparams.averaged_epochs_around_best
    epoch_weights = EpochWeights(radius) if radius else None
    epochs, seconds = _fit(
        model, training_batches(with_table_inputs(model.scorer, train_split), batch,
                                hparams.seed), hparams.epochs,
        epoch_batches, log_dir, eval_data, hparams.early_stopping_patience, train_steps,
        epoch_weights)
    history = {'epochs': epochs, 'epoch_seconds': seconds, 'phase_seconds': phases,
               'batch_size': batch}
    phases.ended('fit')
    best = epochs_used = best_epochs(epochs)
    if radius:  # early stopping left the last epoch's weights; EpochWeights kept the best's
        average_epochs(model, epoch_weights, best, best)
    history['eval_rmse'] = eval_rmse = rmse(model, eval_data)  # the best epoch's weights
    if radius:
        window = (max(1, best - radius), min(len(epochs['rmse']), best + radius))
        average_epochs(model, epoch_weights, *window)
        averaged_rmse = rmse(model, eval_data)
        # Chosen on eval: where an epoch moves the weights far (a high learning rate on
        # little data), their mean can be worse than the best epoch's; then that is kept.
        if averaged_rmse <= eval_rmse:
            history.update(eval_rmse=averaged_rmse, averaged_epochs=list(window))
            epochs_used = window[1]
        else:
            average_epochs(model, epoch_weights, best, best)
            radius = 0
    blend = fit_blend(model, eval_data, scale) if hparams.blend_on_eval and not train_steps \
        else None
    if blend and blend.eval_rmse < history['eval_rmse']:
        model.use_blend(blend.member_weights, blend.offset)
        history['blend'] = {'kind_weights': blend.kind_weights, 'offset': blend.offset,
                            'unblended_eval_rmse': history['eval_rmse']}
        history['eval_rmse'] = blend.eval_rmse
    else:
        blend = None
    phases.ended('evaluate')
    if refit:
        seen = concatenate_ratings(train_split, eval_split)
        history['refit'] = {'epochs': epochs_used, 'examples': len(seen[features.LABEL])}
        for variable, value in zip(model.weights, starting_weights):
            variable.assign(value)
        if blend:  # chosen on eval, as the epochs are
            model.use_blend(blend.member_weights, blend.offset)
        model.scorer.use_tables(refit_tables)
        seen = with_table_inputs(model.scorer, seen)
        for variable in model.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        epoch_weights = EpochWeights(radius) if radius else None
        refit_epochs, seconds = _fit(
            model, training_batches(seen, batch, hparams.seed), epochs_used,
            batches_per_epoch(len(seen[features.LABEL]), batch),
            os.path.join(log_dir, 'refit'), epoch_weights=epoch_weights)
        history['refit'].update(train_rmse=refit_epochs['rmse'], epoch_seconds=seconds)
        if radius:
            average_epochs(model, epoch_weights, *window)
            history['refit']['averaged_epochs'] = list(window)
        phases.ended('refit')
    return model, history


def rmse(model, data) -> float:
    """RMSE of the model's served (clipped) predictions over a dataset: the task's metric,
    by the test step fit's validation has traced (an eager call per batch is far slower)."""
    return float(model.evaluate(data, verbose=0, return_dict=True)['rmse'])


def run_fn(fn_args: FnArgs):
    """TFX Trainer entry point."""
    leave_libraries_to_autograph()
    hparams = Hyperparameters.from_config(fn_args.custom_config['hyperparameters'])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    scale = schema.rating_scale(
        tf_transform_output.raw_metadata.schema,
        where=os.path.join(fn_args.transform_output, tft.TFTransformOutput.RAW_METADATA_DIR))
    phases = PhaseSeconds()
    titles = {}
    train_split = read_split(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                             titles=titles)
    eval_split = read_split(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                            EVAL_COLUMNS)
    sizes = vocabulary_sizes(tf_transform_output)
    phases.ended('read')
    logging.info('Training %s on %d examples, early stopping on %d eval examples; ratings '
                 '%g-%g; %s', hparams.architecture, len(train_split[features.LABEL]),
                 len(eval_split[features.LABEL]), scale.min, scale.max, sizes)

    # Beside the catalog tables, which train() builds first.
    baseline = in_background(fit_bias_baseline, hparams, {
        key: train_split[key] for key in _TRAINING_COLUMNS}, eval_split, sizes, scale)
    model, history = train(hparams, train_split, eval_split, sizes, scale,
                           log_dir=fn_args.model_run_dir, train_steps=fn_args.train_steps,
                           phases=phases, wait_for=[baseline])
    baseline, baseline_eval_rmse = baseline.result()
    history[artifacts.BIAS_BASELINE] = {'regularisation': baseline.regularisation,
                                        'eval_rmse': baseline_eval_rmse}
    try:
        save(model, fn_args.serving_model_dir, tf_transform_output, titles, baseline)
        phases.ended('export')
    finally:  # the history of a fit whose export failed is worth keeping too
        logging.info('Trainer phases (seconds): %s', phases)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, artifacts.HISTORY_FILE),
                               'w') as f:
            json.dump(history, f, indent=1)


def movie_catalog(tf_transform_output, titles: Dict[int, bytes]) -> catalog.MovieCatalog:
    """The catalog of the movie vocabulary, with the titles read from the train split."""
    movie_ids = tf_transform_output.vocabulary_by_name(
        features.VOCABULARY_OF[features.MOVIE_INDEX])
    missing = [movie_ids[i] for i in range(len(movie_ids)) if i not in titles]
    if missing:
        raise ValueError(f'No title for movie ids {missing[:5]} of the vocabulary: the '
                         'titles must come from the split the vocabulary was built on '
                         '(read_split of the train split, with titles=)')
    return catalog.MovieCatalog(movie_ids, [titles[i] for i in range(len(movie_ids))])


def save(model, path, tf_transform_output, titles: Dict[int, bytes],
         baseline: bias_baseline.BiasBaseline):
    """The SavedModel that is evaluated and served: the model, the Transform graph, the movie
    catalog with the model's terms of each movie, the bias baseline and the signatures
    (signatures.py)."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    model.movie_catalog = movie_catalog(tf_transform_output, titles)
    model.catalog_movie_terms = ranking_model.CatalogMovieTerms(model.scorer,
                                                                model.movie_catalog.size)
    model.bias_baseline = bias_baseline.BiasBaselineRatings(baseline, model.scale)
    # save_traces=False: every consumer (TF Serving, TFMA, rank.py) calls the signatures;
    # tracing each Keras layer's call as well would double the time this takes. Nor does
    # any of them train on: the optimizer's moments would triple the size of the tables.
    model.save(path, save_format='tf', save_traces=False, include_optimizer=False,
               signatures=signatures.build(model, tf_transform_output))
