"""Fingerprints of the project code that Transform and the Trainer run, so that TFX's cache
sees an edit of that code.

TFX keys its cache on a component's inputs and properties. The pipeline names its code by
dotted path ('models.ranking.trainer.run_fn'), which says where the code is, not what it
is: edit models/ranking/model.py, rerun, and TFX would serve the old model from the cache.
(A module_file is packaged and hashed, but breaks an offline Kubeflow compile.) A hash of
the sources, passed as a property, makes an edited model a new execution. The Evaluator's
metric and extractors (components/rmse_metric.py, evaluator_extractors.py) are named the same
way and have no such property: after editing them, rerun with --no-cache.
"""
import hashlib
import os

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'models')


def source_fingerprint(directory: str = MODELS_DIR, recursive: bool = True) -> str:
    """A hash of the names and contents of the .py files in `directory` (and below it, when
    recursive)."""
    paths = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if recursive and d != '__pycache__')
        paths += [os.path.join(root, name) for name in files if name.endswith('.py')]
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(os.path.relpath(path, directory).encode() + b'\0')
        with open(path, 'rb') as f:
            digest.update(f.read() + b'\0')
    return digest.hexdigest()[:16]


def transform_source() -> str:
    """The preprocessing_fn and the feature names it uses: models/*.py, not models/ranking,
    so that an edit of the model alone does not rerun Transform."""
    return source_fingerprint(MODELS_DIR, recursive=False)


def trainer_source() -> str:
    """The run_fn, the model and everything else under models/."""
    return source_fingerprint(MODELS_DIR)
