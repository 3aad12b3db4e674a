"""Fixtures of the model tests."""
import pytest

from tests.models import data


@pytest.fixture(scope='session')
def transform_output(tmp_path_factory):
    """A real tf.Transform run over the generated training rows, shared by the model tests."""
    return data.run_transform(str(tmp_path_factory.mktemp('transform')), data.training_rows())
