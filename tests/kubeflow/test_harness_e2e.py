"""Both compiled pipeline files, run here task by task as their platforms would run them
(tests/kubeflow/harness.py), each task's own command in its own process.

Each target runs twice on the same small synthetic data, with its own metadata store,
cache and serving directory:

1. a trained model, with nothing served: only the absolute RMSE bound judges it; it is
   blessed and pushed;
2. a model trained for one step: the comparison with the first one fails, and nothing is
   pushed.

kfp: every task of both runs runs, since the ExampleGen and the served baseline are never
cached there, and every other task reads the ExampleGen's new artifact. vertex: the
harness answers the resolver tasks as Vertex AI would (nothing on the first run, then the
first run's blessed model), and the second run takes everything before the Trainer from
the cache, after the ExampleGen's driver has fingerprinted the data.

The four runs are 34 task processes of about 30 s of CPU each, half of it imports: some
16 minutes of CPU in all. The two targets run side by side, as two platforms would, each
run's tasks one after another.
"""
import concurrent.futures
import json
import os

import pytest
import tensorflow_model_analysis as tfma
import yaml

import kubeflow_runner
from components import rmse_metric, serving_layout
from components.served_baseline import SERVED_VERSION_PROPERTY
from datasets import synthetic
from tests.kubeflow import harness, launcher
from tests.kubeflow.metadata import Store

pytestmark = pytest.mark.e2e

RATINGS = 3000
# No model trained on 3000 synthetic ratings is good: the bound only has to let the first
# model through, so that the second one is judged by the comparison alone.
LENIENT_RMSE = 10.0
TRAINED = ('--architecture', 'notebook', '--epochs', '20', '--rmse-threshold',
           str(LENIENT_RMSE))
ONE_STEP = (*TRAINED, '--train-steps', '1')
KFP_TASKS = {'MovieLensExampleGen', 'CuratedSchemaGen', 'StatisticsGen', 'ExampleValidator',
             'AnomalyGate', 'Transform', 'Trainer', 'LatestServedModel', 'Evaluator',
             'Pusher'}
MODEL_RESOLVER = 'latest_blessed_model_resolver-model-resolver'
BLESSING_RESOLVER = 'latest_blessed_model_resolver-model-blessing-resolver'
VERTEX_TASKS = KFP_TASKS - {'LatestServedModel'} | {MODEL_RESOLVER, BLESSING_RESOLVER}


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> str:
    return synthetic.write_grouplens(str(tmp_path_factory.mktemp('data') / 'ml'), RATINGS,
                                     seed=42)


class History:
    """One target's runs: its compiled files, store, pipeline root and serving dir."""

    def __init__(self, target: str, platform: launcher.Platform, work: str, data_dir: str):
        self.target, self.platform, self.work, self.data_dir = target, platform, work, data_dir
        self.store = Store()
        self.root = os.path.join(work, 'root')
        self.serving_dir = os.path.join(work, 'serving')
        self.specs, self.runs = [], []

    def compile(self, *flags) -> None:
        """Compiles the pipeline with `flags` for the next run."""
        output = os.path.join(self.work, f'run-{len(self.specs) + 1}.'
                                         f'{"yaml" if self.target == "kfp" else "json"}')
        code = kubeflow_runner.main([
            '--target', self.target, '--output', output, '--pipeline-root', 'gs://bucket/root',
            '--image', 'registry.example/movielens:test', '--data-dir', self.data_dir,
            '--serving-dir', self.serving_dir, *flags])
        assert code == 0
        with open(output) as f:
            self.specs.append(yaml.safe_load(f) if self.target == 'kfp' else
                              json.load(f)['pipelineSpec'])

    def run_all(self) -> None:
        """Runs the compiled files in order; each run's TaskRuns go to self.runs."""
        for number, spec in enumerate(self.specs, 1):
            self.runs.append(harness.run_pipeline(spec, self.platform, self.root, self.store,
                                                  f'run-{number}'))

    def served_versions(self):
        return serving_layout.versions(self.serving_dir)


def states(runs) -> dict:
    return {name: run.state for name, run in runs.items()}


def output(runs, task, key='model'):
    [artifact] = runs[task].outputs[key]
    return artifact


def overall_failures(blessing_runs) -> set:
    """(metric, is_diff) of every failed threshold, from the Evaluator's validation."""
    validation = tfma.load_validation_result(output(blessing_runs, 'Evaluator', 'evaluation').uri)
    return {(failure.metric_key.name, failure.metric_key.is_diff)
            for per_slice in validation.metric_validations_per_slice
            for failure in per_slice.failures}


def read(path):
    with open(path, 'rb') as f:
        return f.read()


@pytest.fixture(scope='module')
def histories(tmp_path_factory, data_dir) -> dict:
    """Both targets, each run twice; the targets side by side."""
    histories = {target: History(target, platform, str(tmp_path_factory.mktemp(target)),
                                 data_dir)
                 for target, platform in (('kfp', launcher.KFP), ('vertex', launcher.VERTEX))}
    for history in histories.values():  # compiled one after another; only the runs overlap
        history.compile(*TRAINED)
        history.compile(*ONE_STEP)
    with concurrent.futures.ThreadPoolExecutor(len(histories)) as pool:
        for finished in [pool.submit(history.run_all) for history in histories.values()]:
            finished.result()
    return histories


@pytest.fixture(scope='module')
def kfp(histories) -> History:
    return histories['kfp']


@pytest.fixture(scope='module')
def vertex(histories) -> History:
    return histories['vertex']


def test_kfp_first_run_with_nothing_served_pushes(kfp):
    first = kfp.runs[0]
    assert states(first) == dict.fromkeys(KFP_TASKS, harness.RAN)
    assert output(first, 'LatestServedModel').metadata[SERVED_VERSION_PROPERTY] == ''
    blessing = output(first, 'Evaluator', 'blessing').metadata
    trainer_model = output(first, 'Trainer')
    assert blessing['blessed'] == 1
    assert blessing['current_model_id'] == str(trainer_model.id)
    assert 'baseline_model_id' not in blessing  # the empty baseline counted as none
    pushed = output(first, 'Pusher', 'pushed_model').metadata
    assert pushed['pushed'] == 1
    assert kfp.served_versions() == [int(pushed['pushed_version'])]
    served = os.path.join(kfp.serving_dir, pushed['pushed_version'], 'saved_model.pb')
    assert read(served) == \
        read(os.path.join(trainer_model.uri, 'Format-Serving', 'saved_model.pb'))


def test_kfp_second_run_judges_a_worse_model_against_the_served_one(kfp):
    first, second = kfp.runs
    # The ExampleGen reads the data again, so everything after it runs again too.
    assert states(second) == dict.fromkeys(KFP_TASKS, harness.RAN)
    served_version = output(first, 'Pusher', 'pushed_model').metadata['pushed_version']
    baseline = output(second, 'LatestServedModel')
    assert baseline.metadata[SERVED_VERSION_PROPERTY] == served_version
    assert read(os.path.join(baseline.uri, 'Format-Serving', 'saved_model.pb')) == \
        read(os.path.join(kfp.serving_dir, served_version, 'saved_model.pb'))
    blessing = output(second, 'Evaluator', 'blessing').metadata
    assert blessing['blessed'] == 0
    assert blessing['baseline_model_id'] == str(baseline.id)
    assert blessing['current_model_id'] == str(output(second, 'Trainer').id)
    assert overall_failures(second) == {(rmse_metric.RMSE_NAME, True)}
    assert output(second, 'Pusher', 'pushed_model').metadata['pushed'] == 0
    assert kfp.served_versions() == [int(served_version)]


def test_vertex_first_run_with_no_blessed_model_pushes(vertex):
    first = vertex.runs[0]
    assert states(first) == {**dict.fromkeys(VERTEX_TASKS, harness.RAN),
                             MODEL_RESOLVER: harness.RESOLVED,
                             BLESSING_RESOLVER: harness.RESOLVED}
    assert first[BLESSING_RESOLVER].outputs == {'model_blessing': []}
    assert first[MODEL_RESOLVER].outputs == {'model': []}
    blessing = output(first, 'Evaluator', 'blessing').metadata
    model_name = vertex.platform.artifact_name(output(first, 'Trainer'))
    assert (blessing['blessed'], blessing['current_model_id']) == (1, model_name)
    assert 'baseline_model_id' not in blessing
    pushed = output(first, 'Pusher', 'pushed_model').metadata
    assert pushed['pushed'] == 1
    assert vertex.served_versions() == [int(pushed['pushed_version'])]


def test_vertex_second_run_judges_a_worse_model_against_the_last_blessed_one(vertex):
    first, second = vertex.runs
    before_trainer = {'MovieLensExampleGen', 'CuratedSchemaGen', 'StatisticsGen',
                      'ExampleValidator', 'AnomalyGate', 'Transform'}
    assert states(second) == {**dict.fromkeys(VERTEX_TASKS, harness.RAN),
                              **dict.fromkeys(before_trainer, harness.CACHED),
                              MODEL_RESOLVER: harness.RESOLVED,
                              BLESSING_RESOLVER: harness.RESOLVED}
    assert second[BLESSING_RESOLVER].outputs['model_blessing'] == \
        first['Evaluator'].outputs['blessing']
    first_model = output(first, 'Trainer')
    assert second[MODEL_RESOLVER].outputs['model'] == [first_model]
    blessing = output(second, 'Evaluator', 'blessing').metadata
    assert blessing['blessed'] == 0
    assert blessing['baseline_model_id'] == vertex.platform.artifact_name(first_model)
    assert overall_failures(second) == {(rmse_metric.RMSE_NAME, True)}
    assert output(second, 'Pusher', 'pushed_model').metadata['pushed'] == 0
    assert vertex.served_versions() == \
        [int(output(first, 'Pusher', 'pushed_model').metadata['pushed_version'])]
