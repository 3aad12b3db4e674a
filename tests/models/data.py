"""Generated raw MovieLens rows and a real tf.Transform run over them, for the model tests."""
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx.utils import io_utils
from tensorflow_metadata.proto.v0 import schema_pb2

from models import features, preprocessing
from models.ranking import trainer
from models.ranking.hyperparameters import Hyperparameters
from pipeline import configs
from pipeline import pipeline as pipeline_module

TITLES = ['Toy Story (1995)', 'GoldenEye (1995)', 'Misérables, Les (1995)',
          'Casablanca (1942)', 'Untitled']
GENRES = [['Animation', 'Comedy'], ['Action'], ['Drama'], ['Drama', 'Romance'], ['unknown']]


def raw_feature_spec():
    schema = io_utils.parse_pbtxt_file(os.path.join(configs.SCHEMA_DIR, 'schema.pbtxt'),
                                       schema_pb2.Schema())
    return schema_utils.schema_as_feature_spec(schema).feature_spec


def make_row(user, movie, rating, gender='M', age=25, occupation='writer', zip_code='94043'):
    """A raw example as tf.Transform's instance-dict format wants it."""
    return {
        features.USER_ID: [str(user).encode()],
        features.MOVIE_ID: [str(movie).encode()],
        features.MOVIE_TITLE: [TITLES[movie].encode()],
        features.MOVIE_GENRES: [g.encode() for g in GENRES[movie]],
        features.USER_GENDER: [gender.encode()],
        features.BUCKETIZED_USER_AGE: [age],
        features.RAW_USER_AGE: [age + 1],
        features.USER_OCCUPATION_TEXT: [occupation.encode()],
        features.USER_ZIP_CODE: [zip_code.encode()],
        features.USER_RATING: [float(rating)],
        features.TIMESTAMP: [881250949],
    }


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


def run_transform(workdir, rows):
    """(TFTransformOutput, transformed rows) from the real preprocessing_fn."""
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(raw_feature_spec()))
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


def save_serving_model(transform_output, path):
    """Trains the hybrid model briefly on tf.Transform's rows and saves it with signatures.

    `transform_output` is data.run_transform's (TFTransformOutput, transformed rows).
    """
    output, rows = transform_output
    columns = as_columns(rows)
    sizes = trainer.vocabulary_sizes(output)
    hparams = Hyperparameters.from_config(
        dict(configs.HYPERPARAMETERS['hybrid'], epochs=2, batch_size=4))
    model, _ = trainer.train(hparams, columns, columns, sizes,
                             log_dir=os.path.join(os.path.dirname(path), 'logs'))
    trainer.save(model, path, output)
    return path
