"""End to end: local_runner.py runs the real pipeline (LocalDagRunner, Beam, MLMD in SQLite)."""
import contextlib
import io
import json
import os

import pytest
import tensorflow as tf

import local_runner
from runs.output_dir import OutputDir
from datasets import synthetic
from runs import record as run_record

pytestmark = pytest.mark.e2e

COMPONENTS = {'MovieLensExampleGen', 'StatisticsGen', 'CuratedSchemaGen', 'ExampleValidator',
              'AnomalyGate', 'Transform', 'Trainer', 'latest_blessed_model_resolver',
              'Evaluator', 'Pusher'}
SUMMARY_KEYS = {'pipeline_name', 'data', 'test_rmse', 'eval_rmse', 'blessed',
                'pushed_model_dir', 'gate', 'components', 'wall_seconds'}
RATINGS = 6000
# Small synthetic data cannot reach MovieLens quality; this bound still rejects a model that
# learnt nothing (predicting the mean scores about 1.1 on it).
LENIENT_RMSE = 1.05


def run(output_dir, *flags):
    code = local_runner.main(['--output-dir', str(output_dir), *flags])
    summary_path = OutputDir(output_dir).summary
    summary = None
    if code == 0:
        with open(summary_path) as f:
            summary = json.load(f)
    return code, summary


@pytest.fixture(scope='module')
def output_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('e2e')


@pytest.fixture(scope='module')
def first_run(output_dir):
    return run(output_dir, '--source', 'synthetic', '--synthetic-ratings', str(RATINGS),
               '--rmse-threshold', str(LENIENT_RMSE))


@pytest.fixture(scope='module')
def second_run(first_run, output_dir):
    """(exit code, summary, stdout) of the same run again."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code, summary = run(output_dir, '--source', 'synthetic', '--synthetic-ratings',
                            str(RATINGS), '--rmse-threshold', str(LENIENT_RMSE))
    return code, summary, stdout.getvalue()


def test_first_run_writes_the_documented_summary(first_run):
    code, summary = first_run
    assert code == 0
    assert set(summary) == SUMMARY_KEYS
    assert summary['data']['source'] == 'synthetic'
    counts = summary['data']['split_counts']
    assert sum(counts.values()) == RATINGS
    assert abs(counts['train'] / RATINGS - 0.72) < 0.02
    assert abs(counts['test'] / RATINGS - 0.20) < 0.02
    assert set(summary['components']) == COMPONENTS
    assert not any(c['cached'] for c in summary['components'].values())
    assert 0.5 < summary['test_rmse'] <= LENIENT_RMSE
    assert 0.5 < summary['eval_rmse'] < 1.5


def test_every_component_executed_in_mlmd(first_run, output_dir):
    store = run_record.connect(os.path.join(output_dir, 'metadata.sqlite'))
    executions = run_record.RunRecord(store).executions()
    assert set(executions) == COMPONENTS
    assert all(e.last_known_state == run_record.Execution.COMPLETE
               for e in executions.values())


def test_first_run_is_blessed_and_pushed_in_tf_serving_layout(first_run, output_dir):
    _, summary = first_run
    assert summary['blessed'] is True
    pushed = summary['pushed_model_dir']
    assert os.path.dirname(pushed) == os.path.join(output_dir, 'serving_model')
    assert os.path.basename(pushed).isdigit()  # TF Serving's numbered version dirs
    assert os.path.exists(os.path.join(pushed, 'saved_model.pb'))


def test_pushed_model_predicts_ratings_from_ids(first_run):
    model = tf.saved_model.load(first_run[1]['pushed_model_dir'])
    ratings = model.signatures['predict_rating'](
        user_id=tf.constant(['1', '2', 'never-seen']),
        movie_title=tf.constant(['x', 'y', 'z']))['rating'].numpy()
    assert ratings.shape == (3,)
    assert ((ratings >= 1.0) & (ratings <= 5.0)).all()


def test_second_run_is_served_from_the_cache(first_run, second_run, output_dir):
    code, summary, stdout = second_run
    assert code == 0
    components = summary['components']
    # Everything, the Evaluator and Pusher included: the baseline leaves out the candidate,
    # so the cached Trainer's model meets the same (empty) baseline as in the first run.
    # The resolver is a query, run every time.
    assert {name for name, c in components.items() if c['cached']} == \
        COMPONENTS - {'latest_blessed_model_resolver'}
    store = run_record.connect(os.path.join(output_dir, 'metadata.sqlite'))
    resolved = run_record.RunRecord(store).outputs('latest_blessed_model_resolver')
    assert not resolved.get('model')
    assert summary['test_rmse'] == first_run[1]['test_rmse']
    # The first run's verdict and push, served from the cache: nothing is pushed again.
    assert summary['blessed'] is True
    assert summary['pushed_model_dir'] == first_run[1]['pushed_model_dir']
    assert os.listdir(os.path.join(output_dir, 'serving_model')) == [
        os.path.basename(first_run[1]['pushed_model_dir'])]
    assert summary['wall_seconds'] < first_run[1]['wall_seconds'] / 2
    assert "(an earlier run's verdict on the same model and data)" in stdout
    assert 'Nothing new to push' in stdout and 'Pushed to' not in stdout


def test_anomalous_data_stops_the_run_before_training(tmp_path):
    data_dir = synthetic.write_grouplens(str(tmp_path / 'data'), 3000, seed=1)
    users_path = os.path.join(data_dir, 'u.user')
    with open(users_path) as f:
        users = f.read().splitlines()
    # An age outside the schema's domain (1..120): valid GroupLens syntax, but drift.
    fields = users[0].split('|')
    fields[1] = '150'
    users[0] = '|'.join(fields)
    with open(users_path, 'w') as f:
        f.write('\n'.join(users) + '\n')

    output_dir = tmp_path / 'run'
    code, _ = run(output_dir, '--data-dir', data_dir)

    assert code != 0
    store = run_record.connect(os.path.join(output_dir, 'metadata.sqlite'))
    executions = run_record.RunRecord(store).executions()
    assert executions['AnomalyGate'].last_known_state == run_record.Execution.FAILED
    assert 'Trainer' not in executions and 'Transform' not in executions
    assert not os.path.exists(os.path.join(output_dir, 'serving_model'))


@pytest.mark.movielens
def test_real_movielens_100k_is_blessed_with_good_rmse(movielens_dir, tmp_path):
    code, summary = run(tmp_path, '--data-dir', movielens_dir)
    assert code == 0
    assert sum(summary['data']['split_counts'].values()) == 100_000
    assert summary['blessed'] is True and summary['pushed_model_dir']
    assert summary['test_rmse'] <= 0.95
