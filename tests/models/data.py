"""Generated raw MovieLens rows and a real tf.Transform run over them, for the model tests.

Two kinds of release: the 100K and 1M kind (whole stars, users with demographics), and the
kind of 10M and later (half stars, nothing known of users, two movies sharing a title).
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tensorflow_metadata.proto.v0 import schema_pb2

from components import curated_schema
from components.movielens import contract
from models import features, preprocessing, schema
from models.ranking import trainer
from models.ranking.hyperparameters import Hyperparameters
from pipeline import configs
from pipeline import pipeline as pipeline_module

# Movie i is TITLES[i]; movies 5 and 6 are two different films with one title.
SHARED_TITLE = 'Hamlet (2000)'
TITLES = ['Toy Story (1995)', 'GoldenEye (1995)', 'Misérables, Les (1995)',
          'Casablanca (1942)', 'Untitled', SHARED_TITLE, SHARED_TITLE]
GENRES = [['Animation', 'Comedy'], ['Action'], ['Drama'], ['Drama', 'Romance'], ['unknown'],
          ['Drama'], ['IMAX', 'Drama']]
DEMOGRAPHICS = (features.USER_GENDER, features.BUCKETIZED_USER_AGE, features.RAW_USER_AGE,
                features.USER_OCCUPATION_TEXT, features.USER_ZIP_CODE)


@dataclasses.dataclass(frozen=True)
class Release:
    data_format: str  # the release family's format, which picks its curated schema
    demographics: bool  # does the release describe its users?
    min_rating: float  # 1.0 for whole stars, 0.5 for half stars


WHOLE_STARS = Release(contract.FORMAT_100K, demographics=True, min_rating=1.0)  # 100K, 1M
HALF_STARS = Release(contract.FORMAT_10M, demographics=False, min_rating=0.5)  # 10M, later


def raw_schema(release: Release = WHOLE_STARS) -> schema_pb2.Schema:
    """The curated schema of a release of this kind, as the pipeline reads it."""
    return curated_schema.load(release.data_format)


def raw_feature_spec(release: Release = WHOLE_STARS):
    return schema_utils.schema_as_feature_spec(raw_schema(release)).feature_spec


def make_row(user, movie, rating, gender='M', age=25, occupation='writer', zip_code='94043',
             demographics=True):
    """A raw example as tf.Transform's instance-dict format wants it."""
    row = {
        features.USER_ID: [str(user).encode()],
        features.MOVIE_ID: [str(movie).encode()],
        features.MOVIE_TITLE: [TITLES[movie].encode()],
        features.MOVIE_GENRES: [g.encode() for g in GENRES[movie]],
        features.USER_RATING: [float(rating)],
        features.TIMESTAMP: [881250949],
    }
    if not demographics:
        row[features.MOVIE_TAGS] = []  # the half-star releases' schema has the (optional) tags
    if demographics:
        row.update({
            features.USER_GENDER: [gender.encode()],
            features.BUCKETIZED_USER_AGE: [age],
            features.RAW_USER_AGE: [age + 1],
            features.USER_OCCUPATION_TEXT: [occupation.encode()],
            features.USER_ZIP_CODE: [zip_code.encode()],
        })
    return row


def training_rows():
    """Users 0-3 rate movies 0-3 (never movie 4); user 0 rates most, so ranks first."""
    rng = np.random.default_rng(0)
    people = {0: ('M', 25, 'writer', '94043'), 1: ('F', 35, 'artist', '10001'),
              2: ('F', 18, 'student', '94110'), 3: ('M', 56, 'retired', '32067')}
    rows = []
    for user, count in ((0, 4), (1, 3), (2, 2), (3, 1)):
        gender, age, occupation, zip_code = people[user]
        for movie in range(count):
            rows.append(make_row(user, movie, rng.integers(1, 6), gender, age, occupation,
                                 zip_code))
    return rows


# Users 10-13 of the half-star release: (movie, rating) pairs. User 10 rates low and gives
# the one 0.5; movie 6 has more ratings than movie 5, which shares its title.
HALF_STAR_RATINGS = {
    10: ((0, 0.5), (1, 1.0), (5, 1.5), (6, 1.0)),
    11: ((0, 4.5), (2, 3.5), (6, 4.0)),
    12: ((0, 5.0), (3, 2.5), (6, 3.0), (1, 4.0)),
    13: ((1, 3.5), (5, 4.5)),
}


def half_star_rows():
    """Rows of a release with half stars, no user features and two movies sharing a title."""
    return [make_row(user, movie, rating, demographics=False)
            for user, ratings in HALF_STAR_RATINGS.items() for movie, rating in ratings]


def run_transform(workdir, rows, release: Release = WHOLE_STARS):
    """(TFTransformOutput, transformed rows) from the real preprocessing_fn."""
    # The curated schema itself, domains included, as TFX's Transform saves it.
    metadata = dataset_metadata.DatasetMetadata(raw_schema(release))
    # The kind of graph the pipeline's Transform writes, so that the signature tests load it.
    with tft_beam.Context(temp_dir=os.path.join(workdir, 'tmp'),
                          force_tf_compat_v1=pipeline_module.TRANSFORM_FORCE_TF_COMPAT_V1):
        (transformed, _), transform_fn = (
            (rows, metadata)
            | tft_beam.AnalyzeAndTransformDataset(preprocessing.preprocessing_fn,
                                                  output_record_batches=False))
        _ = transform_fn | tft_beam.WriteTransformFn(workdir)
    # The raw metadata too, as TFX's Transform writes it: the serving signatures parse with it.
    metadata_io.write_metadata(
        metadata, os.path.join(workdir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(workdir), transformed


def serialize(row):
    """A raw row as a serialized tf.Example, the way TF Serving receives it."""
    feature = {}
    for key, values in row.items():
        if not values:
            continue  # an optional feature the row lacks, as the ExampleGen leaves it out
        if isinstance(values[0], bytes):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        elif isinstance(values[0], float):
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def as_columns(transformed_rows):
    """Transformed instance dicts as the trainer's in-memory columns."""
    return trainer.concatenate([{key: np.asarray([value]) for key, value in row.items()}
                                for row in transformed_rows])


def titles_of(output, raw_rows):
    """Each movie index's title, as the Trainer reads them from the train split."""
    movies = output.vocabulary_by_name(features.VOCABULARY_OF[features.MOVIE_INDEX])
    title = {row[features.MOVIE_ID][0]: row[features.MOVIE_TITLE][0] for row in raw_rows}
    return {index: title[movie_id] for index, movie_id in enumerate(movies)}


def save_serving_model(transform_output, path, raw_rows=None, **hyperparameters):
    """Trains the hybrid model briefly on tf.Transform's rows, as run_fn does, and saves it
    with its signatures; the rows are both train and eval split.

    `transform_output` is data.run_transform's (TFTransformOutput, transformed rows) of
    `raw_rows` (default: training_rows()).
    """
    output, rows = transform_output
    columns = as_columns(rows)
    sizes = trainer.vocabulary_sizes(output)
    scale = schema.rating_scale(output.raw_metadata.schema, where='the test schema')
    hparams = Hyperparameters.from_config(dict(
        configs.HYPERPARAMETERS['hybrid'], **dict(dict(epochs=2, batch_size=4),
                                                  **hyperparameters)))
    baseline, _ = trainer.fit_bias_baseline(hparams, columns, columns, sizes, scale)
    model, _ = trainer.train(hparams, dict(columns), columns, sizes, scale,
                             log_dir=os.path.join(os.path.dirname(path), 'logs'))
    trainer.save(model, path, output, titles_of(output, raw_rows or training_rows()), baseline)
    return path


class FixedScorer(tf.keras.layers.Layer):
    """A scorer that rates any batch with the given [batch, members] scores, its members of
    the given kinds: for tests of what the model does with its members' ratings."""
    table_input_names = ()

    def __init__(self, scores, member_kinds):
        super().__init__()
        self._scores = tf.constant(scores, tf.float32)
        self.member_kinds = tuple(member_kinds)

    def call(self, user_index, movie_index, training=False):
        return self._scores
