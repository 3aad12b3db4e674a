"""One output dir through a production-like history, five runs that share their cache:

1. a run is killed while its Trainer runs (a second run started meanwhile is refused);
2. the same run again resumes from the cache and completes; its model, trained for one
   step, is the first ever, so the user + item bias baseline alone judges it: not blessed;
3. a properly trained model is blessed with no baseline to beat, and pushed;
4. the same run again is served from TFX's cache: nothing runs, nothing is pushed again;
   once more, it finds nothing changed and answers without TFX (runs/up_to_date.py);
5. a one-step model again is not blessed, because it does not beat the served one, and
   the served versions stay byte for byte as they were.

The data are small synthetic GroupLens files with one rating row of every bad kind added,
run with --skip-bad-rows, so the runs also show how skipped rows are counted. The runs
write no report (tests/conftest.py's reports_not_written).

Each run happens in a module-scoped fixture, in this order whichever test asks first, and
keeps what its tests read: the tests only read. The output dir cannot be a copy of
tests/conftest.py's completed_run: in a copy the data and the serving dir have other paths,
so TFX's cache would run the pipeline again.
"""
import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading

import pytest

import local_runner
from components.movielens.contract import SKIPPED_ROWS_PROPERTY
from datasets import synthetic
from pipeline import configs
from runs import local
from runs import record as run_record
from runs.output_dir import OutputDir
from tests.components.movielens_data import read_lines, with_fields, write_lines
from tests.conftest import LENIENT_RMSE, reports_not_written

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATINGS = 3000
# Ids far beyond what write_grouplens makes for RATINGS ratings.
UNKNOWN_MOVIE, UNKNOWN_USER = '99999', '88888'
# A bad rating row of every kind that --skip-bad-rows drops, made from a good one.
# tests/components/test_movielens_bad_input.py checks the message of each.
BAD_ROWS = {
    'too few fields': lambda line: line.rsplit('\t', 1)[0],
    'too many fields': lambda line: line + '\t9',
    'user id not an integer': lambda line: with_fields(line, user='u17'),
    'movie id not an integer': lambda line: with_fields(line, movie='5.5'),
    'rating 0': lambda line: with_fields(line, rating='0'),
    'rating 6': lambda line: with_fields(line, rating='6'),
    'rating 7': lambda line: with_fields(line, rating='7'),
    'rating not a number': lambda line: with_fields(line, rating='good'),
    'movie missing from u.item': lambda line: with_fields(line, movie=UNKNOWN_MOVIE),
    'user missing from u.user': lambda line: with_fields(line, user=UNKNOWN_USER),
}
SKIPPED_LINE = f'Skipped {len(BAD_ROWS)} bad rating rows (--skip-bad-rows).'
COMPONENTS = {'MovieLensExampleGen', 'StatisticsGen', 'CuratedSchemaGen', 'ExampleValidator',
              'AnomalyGate', 'Transform', 'Trainer', 'latest_blessed_model_resolver',
              'Evaluator', 'Pusher'}
UPSTREAM = ('MovieLensExampleGen', 'StatisticsGen', 'ExampleValidator', 'AnomalyGate',
            'Transform')
TRAINER_RUNNING = re.compile(r'^\s+Trainer\s+running\s*$')
KILL_DEADLINE_SECONDS = 600


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> str:
    """Synthetic data plus one bad rating row of every kind, each after a good row."""
    path = synthetic.write_grouplens(str(tmp_path_factory.mktemp('history') / 'ml'), RATINGS,
                                     seed=42)
    ratings_path = os.path.join(path, 'u.data')
    lines = read_lines(ratings_path)
    for index, make_bad_line in enumerate(BAD_ROWS.values()):
        position = 100 * (index + 1)
        lines.insert(position, make_bad_line(lines[position - 1]))
    write_lines(ratings_path, lines)
    return path


@pytest.fixture(scope='module')
def output_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp('history') / 'output')


def flags(data_dir, output_dir, *more):
    return ['--data-dir', data_dir, '--skip-bad-rows', '--output-dir', output_dir, *more]


def serving_tree(output_dir) -> dict:
    """Every entry under serving_model/ with the hash of its bytes."""
    entries = {}
    for folder, names, files in os.walk(OutputDir(output_dir).serving_model):
        for name in names:
            entries[os.path.join(folder, name)] = 'dir'
        for name in files:
            with open(os.path.join(folder, name), 'rb') as f:
                entries[os.path.join(folder, name)] = hashlib.sha256(f.read()).hexdigest()
    return entries


def run(*args) -> dict:
    """local_runner.main in this process, and what its tests read of the run."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), reports_not_written() as reports:
        code = local_runner.main(list(args))
    output = OutputDir(args[args.index('--output-dir') + 1])
    assert code == 0, stdout.getvalue()[-3000:]
    assert [path for path, _ in reports] == [output.path]
    with open(output.summary) as f:
        summary = json.load(f)
    return {'summary': summary, 'stdout': stdout.getvalue(),
            'executions': run_record.RunRecord.latest(output.metadata).executions(),
            'serving': serving_tree(output.path)}



@pytest.fixture(scope='module')
def killed(data_dir, output_dir, tmp_path_factory):
    """Run 1, killed with SIGKILL as soon as its Trainer runs; meanwhile another run tries
    the same output dir. Returns what the tests need to know about both."""
    stderr_path = str(tmp_path_factory.mktemp('killed') / 'stderr')
    with open(stderr_path, 'w') as stderr:
        process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, 'local_runner.py'),
             *flags(data_dir, output_dir, '--train-steps', '1')],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    watchdog = threading.Timer(KILL_DEADLINE_SECONDS, process.kill)
    watchdog.start()
    try:
        stdout = []
        for line in process.stdout:
            stdout.append(line)
            if TRAINER_RUNNING.match(line):
                break
        else:
            with open(stderr_path) as f:
                pytest.fail('the run ended before its Trainer ran:\n' + ''.join(stdout) +
                            f.read()[-3000:])
        busy_err = io.StringIO()
        with contextlib.redirect_stderr(busy_err):
            busy_code = local_runner.main(flags(data_dir, output_dir))
        process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=60)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    with open(stderr_path) as f:
        stderr_text = f.read()
    return {'pid': process.pid, 'code': code, 'stderr': stderr_text, 'busy_code': busy_code,
            'busy_err': busy_err.getvalue(),
            'executions': run_record.RunRecord.latest(
                OutputDir(output_dir).metadata).executions()}


@pytest.fixture(scope='module')
def resumed(killed, data_dir, output_dir):
    """Run 2: the killed run's command again."""
    result = run(*flags(data_dir, output_dir, '--train-steps', '1'))
    store = run_record.connect(OutputDir(output_dir).metadata)
    [result['killed_trainer']] = store.get_executions_by_id(
        [killed['executions']['Trainer'].id])
    examples = run_record.RunRecord.latest(OutputDir(output_dir).metadata).output(
        run_record.EXAMPLE_GEN, 'examples')
    result['skipped_property'] = examples.get_int_custom_property(SKIPPED_ROWS_PROPERTY)
    return result


@pytest.fixture(scope='module')
def good(resumed, data_dir, output_dir):
    """Run 3: a trained model, under a bound that small data can meet."""
    return run(*flags(data_dir, output_dir, '--rmse-threshold', str(LENIENT_RMSE)))


@pytest.fixture(scope='module')
def rerun(good, data_dir, output_dir):
    """Run 4: the same command again, through TFX's cache: without the record of the last
    run, which would answer it without TFX (the up_to_date fixture)."""
    os.remove(OutputDir(output_dir).up_to_date)
    result = run(*flags(data_dir, output_dir, '--rmse-threshold', str(LENIENT_RMSE)))
    result['baseline'] = run_record.RunRecord.latest(OutputDir(output_dir).metadata).outputs(
        'latest_blessed_model_resolver').get('model')
    return result


# Runs local_runner in its own process and says whether it imported TensorFlow.
RUN_AND_SAY_IF_TENSORFLOW = """
import sys
import local_runner
code = local_runner.main(sys.argv[1:])
print('tensorflow imported:', 'tensorflow' in sys.modules)
sys.exit(code)
"""


@pytest.fixture(scope='module')
def up_to_date(rerun, data_dir, output_dir):
    """Run 4 once more, in a process of its own: nothing changed since."""
    metadata = OutputDir(output_dir).metadata
    with open(metadata, 'rb') as f:
        store_before = hashlib.sha256(f.read()).hexdigest()
    process = subprocess.run(
        [sys.executable, '-c', RUN_AND_SAY_IF_TENSORFLOW,
         *flags(data_dir, output_dir, '--rmse-threshold', str(LENIENT_RMSE))],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    with open(metadata, 'rb') as f:
        store_after = hashlib.sha256(f.read()).hexdigest()
    with open(OutputDir(output_dir).summary) as f:
        summary = json.load(f)
    return {'stdout': process.stdout, 'store_unchanged': store_before == store_after,
            'summary': summary, 'serving': serving_tree(output_dir)}


@pytest.fixture(scope='module')
def worse(up_to_date, data_dir, output_dir):
    """Run 5: a one-step model again, under the same lenient bound."""
    return run(*flags(data_dir, output_dir, '--train-steps', '1',
                      '--rmse-threshold', str(LENIENT_RMSE)))


def gate_line(summary) -> str:
    return f"Model gate: {summary['gate']['reason']}"


# 1. The killed run, and the run that tried to start beside it.

def test_the_run_was_killed_in_the_trainer(killed, output_dir):
    assert killed['code'] == -signal.SIGKILL
    executions = killed['executions']
    assert all(executions[name].last_known_state == run_record.Execution.COMPLETE
               for name in UPSTREAM)
    # Nothing marks a killed execution as failed: MLMD keeps it RUNNING for good.
    assert executions['Trainer'].last_known_state == run_record.Execution.RUNNING
    assert 'Evaluator' not in executions and 'Pusher' not in executions


def test_a_second_run_beside_it_was_refused(killed, output_dir):
    assert killed['busy_code'] == local.EXIT_BUSY
    lock_path = OutputDir(output_dir).lock
    assert killed['busy_err'].startswith(
        f'error: {output_dir} is in use by another run: {lock_path} is held by process '
        f"{killed['pid']} on ")
    assert 'local_runner.py --data-dir' in killed['busy_err']


# 2. Resumed: cached up to the Trainer, complete, judged by the bias baseline alone.

def test_the_rerun_of_a_killed_run_completes_from_the_cache(killed, resumed):
    components = resumed['summary']['components']
    assert all(components[name]['cached'] for name in UPSTREAM)
    assert not components['Trainer']['cached']
    # The summary describes this run only, not the killed Trainer that is still RUNNING.
    executions = resumed['executions']
    assert executions['Trainer'].id > killed['executions']['Trainer'].id
    assert {name: executions[name].last_known_state
            for name in ('Trainer', 'Evaluator', 'Pusher')} == dict.fromkeys(
        ('Trainer', 'Evaluator', 'Pusher'), run_record.Execution.COMPLETE)
    assert resumed['killed_trainer'].last_known_state == run_record.Execution.RUNNING


def test_skipped_rows_are_counted_in_log_summary_artifact_and_output(killed, resumed):
    # The ExampleGen ran in the killed run, and logged what it skipped.
    assert f'Skipped {len(BAD_ROWS)} bad rating rows (--skip-bad-rows)' in killed['stderr']
    summary = resumed['summary']
    assert summary['data']['skipped_rows'] == len(BAD_ROWS)
    assert sum(summary['data']['split_counts'].values()) == RATINGS
    assert resumed['skipped_property'] == len(BAD_ROWS)
    assert SKIPPED_LINE in resumed['stdout'].splitlines()


def test_the_first_model_ever_is_judged_by_the_bias_baseline_alone(resumed):
    summary = resumed['summary']
    gate = summary['gate']
    assert summary['blessed'] is False and summary['pushed_model_dir'] is None
    assert gate['threshold'] is None  # the default: no fixed bound
    assert gate['baseline_rmse'] is None and gate['min_improvement'] is None
    assert gate['bias_baseline_min_improvement'] == pytest.approx(configs.RMSE_MIN_IMPROVEMENT)
    assert gate['bias_baseline_rmse'] < gate['rmse'] == summary['test_rmse']
    assert gate['reason'] == (
        f"not blessed: test RMSE {gate['rmse']:.4f} does not beat the user + item bias "
        f"baseline's {gate['bias_baseline_rmse']:.4f} by at least 0.0001")
    assert f'{gate_line(summary)}.' in resumed['stdout'].splitlines()
    assert resumed['serving'] == {}  # nothing was ever pushed


# 3. A good model, the first blessed.

def test_a_good_first_model_is_blessed_with_no_baseline_and_pushed(good, output_dir):
    summary = good['summary']
    gate = summary['gate']
    assert summary['blessed'] is True
    assert gate['baseline_rmse'] is None and gate['threshold'] == LENIENT_RMSE
    assert gate['reason'] == (f"blessed: test RMSE {gate['rmse']:.4f} is within the bound "
                              f'{LENIENT_RMSE:g}, and there was no blessed model to beat')
    assert f'{gate_line(summary)}.' in good['stdout'].splitlines()
    # Exactly one version, complete, and no temporary copy left beside it.
    serving = OutputDir(output_dir).serving_model
    (version,) = {os.path.relpath(path, serving).split(os.sep)[0] for path in good['serving']}
    assert version.isdigit() and summary['pushed_model_dir'] == os.path.join(serving, version)
    assert os.path.join(serving, version, 'saved_model.pb') in good['serving']
    assert f"Pushed to {summary['pushed_model_dir']}" in good['stdout'].splitlines()


# 4. The same run again.

def test_an_unchanged_rerun_is_served_from_the_cache(good, rerun):
    summary = rerun['summary']
    # Everything, the Evaluator and Pusher included: the baseline leaves out the candidate,
    # so the cached Trainer's model meets the same (empty) baseline as in the first run.
    # The resolver is a query, run every time.
    assert set(summary['components']) == COMPONENTS
    assert {name for name, c in summary['components'].items() if c['cached']} == \
        COMPONENTS - {'latest_blessed_model_resolver'}
    assert not rerun['baseline']
    assert summary['test_rmse'] == good['summary']['test_rmse']
    assert summary['wall_seconds'] < good['summary']['wall_seconds'] / 2


def test_an_unchanged_rerun_shows_the_earlier_verdict_and_pushes_nothing(good, rerun):
    summary, stdout = rerun['summary'], rerun['stdout']
    assert summary['blessed'] is True
    assert summary['pushed_model_dir'] == good['summary']['pushed_model_dir']
    assert rerun['serving'] == good['serving']
    assert f"{gate_line(summary)} (an earlier run's verdict on the same model and data)." \
        in stdout.splitlines()
    assert 'Nothing new to push' in stdout and 'Pushed to' not in stdout


def test_a_rerun_with_nothing_changed_answers_without_tfx(rerun, up_to_date, output_dir):
    lines = up_to_date['stdout'].splitlines()
    assert lines[0].startswith('Up to date: nothing ran.')
    assert lines[-1] == 'tensorflow imported: False'
    # MLMD, the summary and the served versions are as run 4 left them.
    assert up_to_date['store_unchanged']
    assert up_to_date['summary'] == rerun['summary']
    assert up_to_date['serving'] == rerun['serving']
    # Run 4's verdict, said as run 4 said it.
    assert lines[1:-1] == [f'Its summary: {OutputDir(output_dir).summary}', SKIPPED_LINE,
                           *[line for line in rerun['stdout'].splitlines()
                             if line.startswith(('Model gate:', 'Nothing new to push'))]]


# 5. A worse model: refused, and the served versions untouched.

def test_a_worse_model_never_replaces_the_served_one(resumed, good, worse):
    summary = worse['summary']
    assert summary['blessed'] is False and summary['pushed_model_dir'] is None
    assert worse['serving'] == good['serving']
    # The same one-step model as run 2 (its Trainer is cached), now held to the served one.
    assert summary['components']['Trainer']['cached']
    gate = summary['gate']
    # Evaluated again, now beside a baseline: TFMA may merge the batches in another order.
    assert gate['rmse'] == pytest.approx(resumed['summary']['test_rmse'], abs=1e-6)
    assert gate['rmse'] < LENIENT_RMSE
    assert gate['baseline_rmse'] == pytest.approx(good['summary']['test_rmse'], abs=1e-6)
    assert gate['min_improvement'] == pytest.approx(configs.RMSE_MIN_IMPROVEMENT)
    assert gate['reason'] == (
        f"not blessed: test RMSE {gate['rmse']:.4f} does not beat the last blessed model's "
        f"{gate['baseline_rmse']:.4f} by at least 0.0001")
    assert f'{gate_line(summary)}.' in worse['stdout'].splitlines()
    assert 'Pushed to' not in worse['stdout']
