"""Fixtures of the model tests."""
import os

import pytest
import tensorflow as tf

from models.ranking import trainer
from tests.models import data


@pytest.fixture(scope='session')
def transform_output(tmp_path_factory):
    """A real tf.Transform run over the generated training rows, shared by the model tests."""
    return data.run_transform(str(tmp_path_factory.mktemp('transform')), data.training_rows())


@pytest.fixture(scope='session')
def saved_model(transform_output, tmp_path_factory):
    """The hybrid model trained briefly on those rows, saved with its signatures and loaded
    back through the SavedModel API, as TF Serving and rank.py load it. Read-only."""
    path = os.path.join(str(tmp_path_factory.mktemp('model')), '1')
    return tf.saved_model.load(data.save_serving_model(transform_output, path))


@pytest.fixture(scope='module')
def columns(transform_output):
    """The transformed training rows as the trainer's in-memory columns."""
    return data.as_columns(transform_output[1])


@pytest.fixture(scope='module')
def sizes(transform_output):
    """The vocabulary sizes of the transformed features, as the trainer reads them."""
    return trainer.vocabulary_sizes(transform_output[0])
