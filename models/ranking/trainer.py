"""The Trainer's entry point: `run_fn` trains the ranking model and exports the SavedModel.

Referenced by dotted path (models.ranking.trainer.run_fn), so the same code runs locally
and in the Kubeflow image.
"""
import dataclasses
import json
import os
from typing import Dict

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from models import features
from models.ranking import model as ranking_model
from models.ranking import signatures
from models.ranking.hyperparameters import Hyperparameters

HISTORY_FILE = 'training_history.json'  # in the model run dir, read by the run summary


def _leave_libraries_to_tensorflow():
    """Stops AutoGraph from rewriting Keras and TFRS internals on every trace.

    AutoGraph leaves modules it knows as library code alone. Since TF 2.16, Keras 2 is the
    separate package tf_keras, which it no longer recognises, so each tf.function trace
    converted the whole of Keras: tracing the train step took about 20 s here instead of
    1 s. Neither library has tensor-dependent Python control flow that needs conversion.
    """
    from tensorflow.python.autograph.core import config as autograph_config
    autograph_config.CONVERSION_RULES = tuple(
        autograph_config.DoNotConvert(name) for name in ('tf_keras', 'tensorflow_recommenders')
    ) + autograph_config.CONVERSION_RULES


_leave_libraries_to_tensorflow()
_READ_BATCH = 8192
_TRAINING_COLUMNS = (features.USER_INDEX, features.MOVIE_INDEX, features.LABEL)


def read_split(file_pattern, data_accessor, tf_transform_output) -> Dict[str, np.ndarray]:
    """Reads a transformed split into memory, one array per feature.

    A few columns of MovieLens-sized data fit easily; holding them lets every epoch shuffle
    fully without re-parsing tf.Examples.
    """
    dataset = data_accessor.tf_dataset_factory(
        file_pattern, tfxio.TensorFlowDatasetOptions(batch_size=_READ_BATCH, num_epochs=1),
        tf_transform_output.transformed_metadata.schema)
    batches = []
    for batch in dataset:
        batch = dict(batch)
        batch[features.MOVIE_GENRE_INDICES] = tf.sparse.to_dense(
            batch[features.MOVIE_GENRE_INDICES], default_value=-1)
        batches.append({key: value.numpy() for key, value in batch.items()})
    return concatenate(batches)


def concatenate(batches) -> Dict[str, np.ndarray]:
    """Joins batches of columns; genre lists are padded with -1 to the longest one."""
    width = max(b[features.MOVIE_GENRE_INDICES].shape[1] for b in batches)
    padded = []
    for b in batches:
        genres = b[features.MOVIE_GENRE_INDICES]
        padded.append(dict(b, **{features.MOVIE_GENRE_INDICES: np.pad(
            genres, ((0, 0), (0, width - genres.shape[1])), constant_values=-1)}))
    return {key: np.concatenate([b[key] for b in padded]) for key in batches[0]}


def vocabulary_sizes(tf_transform_output) -> Dict[str, int]:
    """Index count of each categorical transformed feature, its OOV bucket included."""
    vocabularies = {
        features.USER_INDEX: features.USER_ID,
        features.MOVIE_INDEX: features.MOVIE_TITLE,
        features.USER_GENDER_INDEX: features.USER_GENDER,
        features.USER_AGE_INDEX: features.BUCKETIZED_USER_AGE,
        features.USER_OCCUPATION_INDEX: features.USER_OCCUPATION_TEXT,
        features.USER_ZIP_PREFIX_INDEX: features.USER_ZIP_PREFIX,
        features.MOVIE_GENRE_INDICES: features.MOVIE_GENRES,
    }
    return {key: tf_transform_output.vocabulary_size_by_name(name) + features.NUM_OOV_BUCKETS
            for key, name in vocabularies.items()}


def build_catalog_tables(train: Dict[str, np.ndarray], sizes: Dict[str, int]):
    """Side features per user and per movie, and each user's rated movies, from training.

    A user's side features are the same on every one of their ratings (likewise a movie's),
    so one example each suffices. Rows of users or movies not in the training data, and the
    OOV row, get each side feature's OOV index.
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
    return ranking_model.CatalogTables(
        user_features={name: table(user_index, users, train[name], sizes[name] - 1)
                       for name in features.USER_SIDE_FEATURES},
        movie_genres=table(movie_index, movies, genres, genre_padding),
        movie_year=table(movie_index, movies, train[features.MOVIE_YEAR].astype(np.float32),
                         0.0),
        rated_movies=movie_index[np.argsort(user_index, kind='stable')],
        rated_row_splits=np.concatenate(
            [[0], np.cumsum(np.bincount(user_index, minlength=users))]).astype(np.int64),
        vocabulary_sizes=sizes,
        rating_mean=float(train[features.LABEL].mean()),
    )


def _to_dataset(split: Dict[str, np.ndarray], batch_size: int, shuffle_seed=None):
    dataset = tf.data.Dataset.from_tensor_slices({key: split[key] for key in _TRAINING_COLUMNS})
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(split[features.LABEL]), seed=shuffle_seed,
                                  reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _optimizer(hparams: Hyperparameters):
    if hparams.optimizer == 'adagrad':
        return tf.keras.optimizers.Adagrad(hparams.learning_rate)
    if hparams.optimizer == 'adam':
        return tf.keras.optimizers.Adam(hparams.learning_rate)
    raise ValueError(f"Unknown optimizer {hparams.optimizer!r}: use 'adagrad' or 'adam'.")


def _fit_member(hparams: Hyperparameters, tables, train_split, eval_data, sizes, log_dir,
                train_steps):
    tf.keras.utils.set_random_seed(hparams.seed)
    model = ranking_model.build(hparams, sizes[features.USER_INDEX],
                                sizes[features.MOVIE_INDEX], tables)
    model.compile(optimizer=_optimizer(hparams))
    callbacks = [tf.keras.callbacks.TensorBoard(log_dir=log_dir)]
    if hparams.early_stopping_patience:
        callbacks.append(tf.keras.callbacks.EarlyStopping(
            monitor='val_rmse', patience=hparams.early_stopping_patience,
            restore_best_weights=True))
    train_data = _to_dataset(train_split, hparams.batch_size, shuffle_seed=hparams.seed)
    fit_args = dict(epochs=hparams.epochs)
    if train_steps:
        # A hard cap on optimisation steps, used to make a deliberately weak model.
        train_data = train_data.repeat()
        fit_args = dict(epochs=1, steps_per_epoch=train_steps)
    history = model.fit(train_data, validation_data=eval_data, callbacks=callbacks, verbose=2,
                        **fit_args)
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


def train(hparams: Hyperparameters, train_split, eval_split, sizes, log_dir, train_steps=None):
    """Fits `ensemble_size` models with seeds seed, seed + 1, ... and averages them.

    Returns the model (a single member when ensemble_size is 1) and a history: each
    member's per-epoch metrics, and the eval RMSE of the model that is returned.
    """
    tables = build_catalog_tables(train_split, sizes)
    eval_data = _to_dataset(eval_split, _READ_BATCH)
    members, histories = [], []
    for index in range(hparams.ensemble_size):
        member_log_dir = log_dir if hparams.ensemble_size == 1 else os.path.join(
            log_dir, f'member_{index}')
        member, history = _fit_member(dataclasses.replace(hparams, seed=hparams.seed + index),
                                      tables, train_split, eval_data, sizes, member_log_dir,
                                      train_steps)
        members.append(member)
        histories.append(history)
    model = members[0] if len(members) == 1 else ranking_model.Ensemble(members)
    return model, {'members': histories, 'eval_rmse': rmse(model, eval_data)}


def rmse(model, data) -> float:
    """RMSE of the model's served (clipped) predictions over a dataset."""
    squared_error, count = 0.0, 0
    for batch in data:
        error = model(batch) - tf.cast(batch[features.LABEL], tf.float32)
        squared_error += float(tf.reduce_sum(error * error))
        count += int(tf.size(error))
    return (squared_error / count) ** 0.5


def run_fn(fn_args: FnArgs):
    """TFX Trainer entry point."""
    hparams = Hyperparameters.from_config(fn_args.custom_config['hyperparameters'])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_split = read_split(fn_args.train_files, fn_args.data_accessor, tf_transform_output)
    eval_split = read_split(fn_args.eval_files, fn_args.data_accessor, tf_transform_output)
    sizes = vocabulary_sizes(tf_transform_output)
    logging.info('Training %s on %d examples, early stopping on %d eval examples; %s',
                 hparams.architecture, len(train_split[features.LABEL]),
                 len(eval_split[features.LABEL]), sizes)

    model, history = train(hparams, train_split, eval_split, sizes,
                           log_dir=fn_args.model_run_dir, train_steps=fn_args.train_steps)

    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), 'w') as f:
        json.dump(history, f, indent=1)

    model.tft_layer = tf_transform_output.transform_features_layer()
    # save_traces=False: every consumer (TF Serving, TFMA, rank.py) calls the signatures;
    # tracing each Keras layer's call as well would double the time this takes.
    model.save(fn_args.serving_model_dir, save_format='tf', save_traces=False,
               signatures=signatures.build(model, tf_transform_output))
