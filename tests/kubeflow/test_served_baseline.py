"""The served-model baseline of the kfp target, component by component, in this process.

LatestServedModel runs its compiled executor on a serving directory laid out by hand; the
Evaluator's executor is checked for what it hands TFX's. The harness's end-to-end runs
(test_harness_e2e.py) show both with real models and TFMA.
"""
import os

import pytest
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import standard_artifacts, standard_component_specs

from components import served_baseline

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


def write_version(serving_dir, version, files=('saved_model.pb', 'variables/variables.index')):
    """A version directory whose files hold their own relative path as bytes."""
    for name in files:
        path = os.path.join(serving_dir, str(version), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(f'{version}/{name}')


def files_under(directory):
    found = {}
    for folder, _, names in os.walk(directory):
        for name in names:
            with open(os.path.join(folder, name)) as f:
                found[os.path.relpath(os.path.join(folder, name), directory)] = f.read()
    return found


def latest_served_model(serving_dir, output_uri) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = output_uri
    os.makedirs(output_uri, exist_ok=True)
    served_baseline.LatestServedModel_Executor().Do(
        {}, {'model': [model]}, {'serving_dir': serving_dir})
    return model


def test_the_newest_whole_version_is_copied_where_the_evaluator_looks(tmp_path):
    serving_dir = str(tmp_path / 'serving')
    write_version(serving_dir, 1700000000)
    write_version(serving_dir, 1700000100)
    # Newer, but no SavedModel yet: TF Serving would not serve it either.
    write_version(serving_dir, 1700000200, files=('variables/variables.index',))
    write_version(serving_dir, '.1700000300.tmp')  # a push in progress

    model = latest_served_model(serving_dir, str(tmp_path / 'model'))

    assert files_under(os.path.join(model.uri, 'Format-Serving')) == {
        'saved_model.pb': '1700000100/saved_model.pb',
        'variables/variables.index': '1700000100/variables/variables.index'}
    assert model.get_string_custom_property(served_baseline.SERVED_VERSION_PROPERTY) == \
        '1700000100'
    assert served_baseline.holds_model(model)


@pytest.mark.parametrize('layout', ['missing', 'empty', 'only a temporary copy'])
def test_nothing_served_leaves_the_model_empty(tmp_path, layout):
    serving_dir = str(tmp_path / 'serving')
    if layout != 'missing':
        os.makedirs(serving_dir)
    if layout == 'only a temporary copy':
        write_version(serving_dir, '.1700000300.tmp')

    model = latest_served_model(serving_dir, str(tmp_path / 'model'))

    assert files_under(model.uri) == {}
    assert model.get_string_custom_property(served_baseline.SERVED_VERSION_PROPERTY) == ''
    assert not served_baseline.holds_model(model)


@pytest.fixture
def handed_to_tfx(monkeypatch):
    """The input_dict that ServedBaselineEvaluatorExecutor passes to TFX's Evaluator."""
    calls = []
    monkeypatch.setattr(evaluator_executor.Executor, 'Do',
                        lambda self, inputs, outputs, properties: calls.append(inputs))
    return calls


@pytest.mark.parametrize('served', [True, False])
def test_the_evaluator_gets_a_baseline_only_if_it_holds_a_model(tmp_path, handed_to_tfx,
                                                                served):
    serving_dir = str(tmp_path / 'serving')
    if served:
        write_version(serving_dir, 1700000000)
    baseline = latest_served_model(serving_dir, str(tmp_path / 'baseline'))
    candidate = standard_artifacts.Model()
    inputs = {'model': [candidate], BASELINE_KEY: [baseline]}

    served_baseline.ServedBaselineEvaluatorExecutor().Do(inputs, {}, {})

    [given] = handed_to_tfx
    assert given['model'] == [candidate]
    assert given[BASELINE_KEY] == ([baseline] if served else [])
    assert inputs[BASELINE_KEY] == [baseline]  # the caller's dict is left as it was
