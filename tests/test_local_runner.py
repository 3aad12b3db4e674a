"""local_runner.py runs the real pipeline (LocalDagRunner, Beam, MLMD in SQLite) to the end:
the shared synthetic run of tests/conftest.py, and (with MOVIELENS_DIR) the real ml-100k.

What a run does next to an earlier one (the cache, the gate against the served model, a
killed run) is tests/test_local_runner_history.py; bad data, tests/test_local_runner_bad_data.py.
"""
import contextlib
import io
import json
import os

import pytest
import tensorflow as tf

import local_runner
from models import features
from pipeline import configs
from runs import record as run_record
from runs.output_dir import OutputDir
from tests.components import movielens_data
from tests.conftest import LENIENT_RMSE, SYNTHETIC_RATINGS, reports_not_written

pytestmark = pytest.mark.e2e

COMPONENTS = {'MovieLensExampleGen', 'StatisticsGen', 'CuratedSchemaGen', 'ExampleValidator',
              'AnomalyGate', 'Transform', 'Trainer', 'latest_blessed_model_resolver',
              'Evaluator', 'Pusher'}
SUMMARY_KEYS = {'pipeline_name', 'data', 'test_rmse', 'eval_rmse', 'blessed',
                'pushed_model_dir', 'gate', 'components', 'wall_seconds'}
REAL_RATINGS, REAL_USERS, REAL_MOVIES = 100_000, 943, 1682


def first_run_executions(output_dir: str) -> dict:
    """Each component's execution in the first run recorded in the dir, by component id."""
    store = run_record.connect(OutputDir(output_dir).metadata)
    first = min(store.get_contexts_by_type('pipeline_run'), key=lambda context: context.id)
    executions = {}
    for execution in store.get_executions_by_context(first.id):
        [node] = [context.name for context in store.get_contexts_by_execution(execution.id)
                  if context.type == 'node']
        executions[node.split('.', 1)[1]] = execution  # '<pipeline name>.<component id>'
    return executions


# The shared synthetic run.

def test_a_run_writes_the_documented_summary(completed_run_summary):
    summary = completed_run_summary
    assert set(summary) == SUMMARY_KEYS
    assert summary['data']['source'] == 'synthetic'
    counts = summary['data']['split_counts']
    assert sum(counts.values()) == SYNTHETIC_RATINGS
    assert abs(counts['train'] / SYNTHETIC_RATINGS - 0.72) < 0.02
    assert abs(counts['test'] / SYNTHETIC_RATINGS - 0.20) < 0.02
    assert set(summary['components']) == COMPONENTS
    assert not any(c['cached'] for c in summary['components'].values())
    assert 0.5 < summary['test_rmse'] <= LENIENT_RMSE
    assert 0.5 < summary['eval_rmse'] < 1.5


def test_every_component_executed_in_mlmd(completed_run):
    executions = first_run_executions(completed_run)
    assert set(executions) == COMPONENTS
    assert all(e.last_known_state == run_record.Execution.COMPLETE
               for e in executions.values())


def test_a_blessed_model_is_pushed_in_tf_serving_layout(completed_run, completed_run_summary):
    summary = completed_run_summary
    assert summary['blessed'] is True
    pushed = summary['pushed_model_dir']
    assert os.path.dirname(pushed) == OutputDir(completed_run).serving_model
    assert os.path.basename(pushed).isdigit()  # TF Serving's numbered version dirs
    assert os.path.exists(os.path.join(pushed, 'saved_model.pb'))


def test_the_pushed_model_predicts_ratings_from_ids(completed_run_summary):
    model = tf.saved_model.load(completed_run_summary['pushed_model_dir'])
    ratings = model.signatures['predict_rating'](
        user_id=tf.constant(['1', '2', 'never-seen']),
        movie_title=tf.constant(['x', 'y', 'z']))['rating'].numpy()
    assert ratings.shape == (3,)
    assert ((ratings >= 1.0) & (ratings <= 5.0)).all()


# The real MovieLens 100K: the only proof that the default model is good enough.

@pytest.fixture(scope='module')
def real_run(movielens_dir, tmp_path_factory):
    """(exit code, summary or None, stdout) of the default pipeline on the real ml-100k."""
    output_dir = str(tmp_path_factory.mktemp('real-ml-100k'))
    stdout = io.StringIO()
    # Its report would cost half a minute, and no test reads it.
    with contextlib.redirect_stdout(stdout), reports_not_written():
        code = local_runner.main(['--output-dir', output_dir, '--data-dir', movielens_dir])
    summary = None
    if code == 0:
        with open(OutputDir(output_dir).summary) as f:
            summary = json.load(f)
    return output_dir, code, summary, stdout.getvalue()


@pytest.mark.movielens
def test_real_movielens_100k_is_blessed_with_good_rmse(real_run):
    _, code, summary, stdout = real_run
    assert code == 0, stdout[-3000:]
    assert sum(summary['data']['split_counts'].values()) == REAL_RATINGS
    gate = summary['gate']
    assert gate['threshold'] is None  # the default gate: the user + item bias baseline
    assert summary['blessed'] is True and summary['pushed_model_dir']
    # MovieLens 100K's bias baseline scores about 0.94; the model must clearly beat it.
    assert summary['test_rmse'] < gate['bias_baseline_rmse'] - 0.03


@pytest.mark.movielens
def test_real_movielens_100k_becomes_one_example_per_rating(real_run):
    """What the run's ExampleGen wrote: every rating, user and movie of the files."""
    output_dir, code, _, stdout = real_run
    assert code == 0, stdout[-3000:]
    examples = run_record.RunRecord.latest(OutputDir(output_dir).metadata).output(
        run_record.EXAMPLE_GEN, 'examples')
    assert examples.get_int_custom_property('skipped_rows') == 0
    by_split = {split: movielens_data.read_examples(
        examples.uri, split, [features.USER_ID, features.MOVIE_ID, features.MOVIE_TITLE])
        for split in features.SPLITS}
    every = [example for split in features.SPLITS for example in by_split[split]]
    assert len(every) == REAL_RATINGS
    assert len({example[features.USER_ID][0] for example in every}) == REAL_USERS
    assert len({example[features.MOVIE_ID][0] for example in every}) == REAL_MOVIES
    # u.item is latin-1: the accented title arrives intact.
    assert {example[features.MOVIE_TITLE][0] for example in every
            if example[features.MOVIE_ID] == ['543']} == {'Misérables, Les (1995)'}
    for split, share in zip(features.SPLITS, configs.SPLIT_BUCKETS):
        assert abs(len(by_split[split]) / REAL_RATINGS - share / 100) < 0.01, split
