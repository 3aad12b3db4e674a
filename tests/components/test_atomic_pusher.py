"""No half-pushed version is ever visible: AtomicPushExecutor on a small fake SavedModel.

A push copies into <base>/.<version>.tmp and renames the copy to <base>/<version>; these
tests break the copy halfway, leave the debris of a killed push behind, and push twice in
one second, and look at what a model server scanning <base> would see.
"""
import os
import tempfile
import time

import pytest
from tfx import v1 as tfx
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.atomic_pusher import AtomicPushExecutor
from tests.pipeline import wiring
from tests.components import movielens_data

NOW = 1_800_000_000  # the Unix time the pushes below see
# A SavedModel's layout; saved_model.pb is what model servers wait for.
MODEL_FILES = {
    'saved_model.pb': b'graph' * 100,
    'fingerprint.pb': b'fingerprint',
    'variables/variables.index': b'index' * 10,
    'variables/variables.data-00000-of-00001': os.urandom(200_000),
    'assets/movie_title_vocabulary': '\n'.join(f'Movie {i}' for i in range(500)).encode(),
}


def tree(directory) -> dict:
    """Every file under directory, by relative path, with its bytes."""
    files = {}
    for folder, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                files[os.path.relpath(path, directory)] = f.read()
    return files


@pytest.fixture
def model(tmp_path):
    """A Trainer's Model artifact whose Format-Serving dir holds MODEL_FILES."""
    artifact = standard_artifacts.Model()
    artifact.uri = str(tmp_path / 'trainer' / 'model')
    for name, content in MODEL_FILES.items():
        path = os.path.join(artifact.uri, 'Format-Serving', name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(content)
    return artifact


@pytest.fixture
def base(tmp_path):
    return str(tmp_path / 'serving_model')


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    # Both pushers take their version from time.time.
    monkeypatch.setattr(time, 'time', lambda: NOW + 0.5)


def push(executor, model, base, tmp_path, blessed=True):
    """Runs executor.Do as the TFX launcher would; returns the PushedModel artifact."""
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property('blessed', int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = tempfile.mkdtemp(prefix='pushed_model_', dir=tmp_path)
    destination = tfx.proto.PushDestination(
        filesystem=tfx.proto.PushDestination.Filesystem(base_directory=base))
    executor.Do({standard_component_specs.MODEL_KEY: [model],
                 standard_component_specs.MODEL_BLESSING_KEY: [blessing]},
                {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
                {standard_component_specs.PUSH_DESTINATION_KEY:
                 proto_utils.proto_to_json(destination)})
    return pushed


def fail_after_first_file(monkeypatch, base):
    """Makes the copy into <base> fail at its second file; returns what <base> held after
    the first."""
    seen_while_copying = []
    copy = fileio.copy

    def copy_once(source, destination, overwrite=False):
        if not destination.startswith(base + os.sep):  # e.g. the artifact's archive copy
            copy(source, destination, overwrite)
            return
        if seen_while_copying:
            raise OSError('disk full (injected)')
        copy(source, destination, overwrite)
        seen_while_copying.append(sorted(os.listdir(base)))

    monkeypatch.setattr(fileio, 'copy', copy_once)
    return seen_while_copying


def test_a_push_makes_one_numbered_version_with_the_whole_model(model, base, tmp_path):
    pushed = push(AtomicPushExecutor(), model, base, tmp_path)
    assert os.listdir(base) == [str(NOW)]
    assert tree(os.path.join(base, str(NOW))) == MODEL_FILES
    assert pushed.get_int_custom_property('pushed') == 1
    assert pushed.get_string_custom_property('pushed_destination') == os.path.join(
        base, str(NOW))
    assert pushed.get_string_custom_property('pushed_version') == str(NOW)
    assert tree(pushed.uri) == MODEL_FILES  # archived in the artifact, as TFX does


def test_a_copy_that_fails_halfway_leaves_no_version(model, base, tmp_path, monkeypatch):
    seen_while_copying = fail_after_first_file(monkeypatch, base)
    with pytest.raises(OSError, match='disk full'):
        push(AtomicPushExecutor(), model, base, tmp_path)
    # While copying, only the temporary name existed; afterwards not even that.
    assert seen_while_copying == [[f'.{NOW}.tmp']]
    assert os.listdir(base) == []


def test_tfxs_own_pusher_would_leave_half_a_version(model, base, tmp_path, monkeypatch):
    """The failure the AtomicPushExecutor exists for, shown on TFX's executor."""
    fail_after_first_file(monkeypatch, base)
    with pytest.raises(OSError, match='disk full'):
        push(tfx_pusher_executor.Executor(), model, base, tmp_path)
    (version,) = os.listdir(base)
    assert version.isdigit()
    assert 0 < len(tree(os.path.join(base, version))) < len(MODEL_FILES)


def test_debris_of_a_killed_push_does_not_break_the_next(model, base, tmp_path):
    # A push killed before its rename leaves its temporary copy, perhaps under the very
    # name the next push wants.
    for stale in (f'.{NOW}.tmp', f'.{NOW - 3600}.tmp'):
        os.makedirs(os.path.join(base, stale, 'variables'))
        with open(os.path.join(base, stale, 'variables', 'variables.index'), 'wb') as f:
            f.write(b'partial')
    pushed = push(AtomicPushExecutor(), model, base, tmp_path)
    assert os.listdir(base) == [str(NOW)]
    assert tree(os.path.join(base, str(NOW))) == MODEL_FILES
    assert pushed.get_int_custom_property('pushed') == 1


def test_versions_only_increase(model, base, tmp_path):
    first = push(AtomicPushExecutor(), model, base, tmp_path)
    second = push(AtomicPushExecutor(), model, base, tmp_path)  # in the same second
    os.makedirs(os.path.join(base, str(NOW + 50)))  # e.g. pushed by a clock that ran ahead
    third = push(AtomicPushExecutor(), model, base, tmp_path)
    assert [p.get_string_custom_property('pushed_version') for p in (first, second, third)] \
        == [str(NOW), str(NOW + 1), str(NOW + 51)]
    assert tree(os.path.join(base, str(NOW + 1))) == MODEL_FILES


def test_a_model_that_is_not_blessed_is_not_pushed(model, base, tmp_path):
    pushed = push(AtomicPushExecutor(), model, base, tmp_path, blessed=False)
    assert not os.path.exists(base)
    assert pushed.get_int_custom_property('pushed') == 0


def test_the_pipeline_pushes_with_it_under_the_id_pusher(tmp_path):
    data_dir = movielens_data.write_folder(str(tmp_path / 'ml'))
    pipeline = wiring.build(pipeline_root=str(tmp_path / 'root'), data_path=data_dir,
                            serving_model_dir=str(tmp_path / 'serving_model'))
    (pusher,) = [node for node in pipeline.components if node.id == 'Pusher']
    assert pusher.executor_spec.executor_class is AtomicPushExecutor
