"""Shared test set-up: Keras 2 for TFX, and the optional real MovieLens data."""
import os

# TFX, TFT, TFMA and TFRS need Keras 2; this must happen before TensorFlow is imported.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def movielens_dir():
    """The real ml-100k folder named by MOVIELENS_DIR; tests that need it skip without it."""
    path = os.environ.get('MOVIELENS_DIR')
    if not path:
        pytest.skip('MOVIELENS_DIR is not set: the real MovieLens 100K tests are skipped')
    if not os.path.exists(os.path.join(path, 'u.data')):
        pytest.fail(f'MOVIELENS_DIR={path} holds no u.data; point it at the ml-100k folder')
    return path
