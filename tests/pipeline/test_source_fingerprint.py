"""An edit of the model's or the preprocessing's code changes what TFX's cache keys on."""
import json
import os
import shutil

import pytest

from pipeline import source_fingerprint
from tests.pipeline import wiring


@pytest.fixture
def models_copy(tmp_path):
    copy = tmp_path / 'models'
    shutil.copytree(source_fingerprint.MODELS_DIR, copy,
                    ignore=shutil.ignore_patterns('__pycache__'))
    return copy


def fingerprints(directory):
    return (source_fingerprint.source_fingerprint(directory, recursive=False),
            source_fingerprint.source_fingerprint(directory))


def test_a_copy_has_the_same_fingerprints(models_copy):
    assert fingerprints(models_copy) == (source_fingerprint.transform_source(),
                                         source_fingerprint.trainer_source())


def test_editing_the_model_changes_only_the_trainers(models_copy):
    transform, trainer = fingerprints(models_copy)
    with open(models_copy / 'ranking' / 'model.py', 'a') as f:
        f.write('\n# an edit\n')
    assert fingerprints(models_copy)[0] == transform
    assert fingerprints(models_copy)[1] != trainer


def test_editing_the_preprocessing_changes_both(models_copy):
    before = fingerprints(models_copy)
    with open(models_copy / 'preprocessing.py', 'a') as f:
        f.write('\n# an edit\n')
    after = fingerprints(models_copy)
    assert after[0] != before[0] and after[1] != before[1]


def test_bytecode_and_other_files_do_not_count(models_copy):
    before = fingerprints(models_copy)
    os.makedirs(models_copy / 'ranking' / '__pycache__', exist_ok=True)
    (models_copy / 'ranking' / '__pycache__' / 'model.cpython-310.pyc').write_bytes(b'x')
    (models_copy / 'notes.txt').write_text('not code')
    assert fingerprints(models_copy) == before


def test_transform_and_trainer_carry_them(tmp_path):
    built = wiring.build()
    properties = {component.id: component.exec_properties for component in built.components}
    custom_config = {name: json.loads(properties[name]['custom_config'])
                     for name in ('Transform', 'Trainer')}
    assert custom_config['Transform']['source'] == source_fingerprint.transform_source()
    assert custom_config['Trainer']['source'] == source_fingerprint.trainer_source()
