"""The whole pipeline on Beam's portable runner, against a separate SDK worker pool.

The Beam components (ExampleGen, StatisticsGen, Transform, Evaluator) then run in worker
processes that the pool starts and feeds over the Fn API, as Dataflow's, Flink's and Spark's
workers are: a DoFn that does not pickle, or a count kept in the launching process, fails
here and not under the default in-process runner. The test starts the pool on a free port,
watches which workers it starts, and kills the pool's whole process group afterwards.

One small run: synthetic data with two bad rows, one training step, no report.
"""
import contextlib
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

import local_runner
from components.movielens.contract import SKIPPED_ROWS_PROPERTY
from datasets import synthetic
from models import features
from runs import record as run_record
from runs.output_dir import OutputDir
from tests.components.movielens_data import read_examples, read_lines, with_fields, write_lines
from tests.conftest import reports_not_written

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATINGS = 3000
POOL_START_SECONDS = 120
# The Trainer is no Beam component: one step of it, and a bound that step's model meets,
# so that the run reaches the Pusher.
ANY_RMSE = 10
# One worker for each Beam pipeline: ExampleGen, StatisticsGen, Transform, Evaluator.
BEAM_COMPONENTS = 4
# The pool starts each worker as `python -c "... SdkHarness(...).run()"`.
WORKER_MARK = 'SdkHarness'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('localhost', 0))
        return probe.getsockname()[1]


class WorkerPool:
    """Beam's SDK worker pool in its own process group, and the workers seen under it."""

    def __init__(self, log_path: str):
        self.port = free_port()
        self.log_path = log_path
        self.workers = {}  # pid -> command line
        # The pool starts each worker as a bare `python`: the venv's first on PATH. The
        # workers import the project from the pool's working dir.
        env = dict(os.environ, TF_USE_LEGACY_KERAS='1', PYTHONPATH=ROOT,
                   PATH=os.pathsep.join([os.path.dirname(sys.executable),
                                         os.environ.get('PATH', '')]))
        with open(log_path, 'w') as log:
            self.process = subprocess.Popen(
                [sys.executable, '-m', 'apache_beam.runners.worker.worker_pool_main',
                 f'--service_port={self.port}'],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + POOL_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f'the worker pool exited ({self.process.returncode}):\n'
                            f'{self.log()[-3000:]}')
            with contextlib.suppress(OSError), socket.create_connection(
                    ('localhost', self.port), timeout=1):
                self._watcher.start()
                return
            time.sleep(0.5)
        pytest.fail(f'the worker pool did not listen on port {self.port} within '
                    f'{POOL_START_SECONDS} s:\n{self.log()[-3000:]}')

    def _watch(self) -> None:
        pool = psutil.Process(self.process.pid)
        while not self._stop.wait(0.2):
            for child in pool.children(recursive=True):
                if child.pid not in self.workers:
                    with contextlib.suppress(psutil.Error):
                        self.workers[child.pid] = ' '.join(child.cmdline())

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def kill(self) -> None:
        """SIGKILL to the pool's process group: a busy worker outlives a SIGTERM to the
        pool itself."""
        self._stop.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)
        if self._watcher.is_alive():
            self._watcher.join(timeout=5)


@pytest.fixture(scope='module')
def worker_pool(tmp_path_factory):
    pool = WorkerPool(str(tmp_path_factory.mktemp('worker-pool') / 'pool.log'))
    try:
        pool.wait_until_serving()
        yield pool
    finally:
        pool.kill()


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> str:
    """Synthetic data, plus a rating outside 1..5 and a row of an unknown movie."""
    path = synthetic.write_grouplens(str(tmp_path_factory.mktemp('pool-data') / 'ml'),
                                     RATINGS, seed=42)
    ratings_path = os.path.join(path, 'u.data')
    lines = read_lines(ratings_path)
    lines.insert(100, with_fields(lines[99], rating='7'))
    lines.insert(2000, with_fields(lines[1999], movie='99999'))
    write_lines(ratings_path, lines)
    return path


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope='module')
def pool_run(worker_pool, data_dir, tmp_path_factory) -> dict:
    output_dir = str(tmp_path_factory.mktemp('pool-run') / 'output')
    stdout = io.StringIO()
    # The ExampleGen logs its counts at INFO, which --verbose leaves on.
    logs = _Messages()
    absl_logger = logging.getLogger('absl')
    level = absl_logger.level
    absl_logger.setLevel(logging.INFO)
    absl_logger.addHandler(logs)
    with contextlib.redirect_stdout(stdout), reports_not_written():
        try:
            code = local_runner.main([
                '--data-dir', data_dir, '--skip-bad-rows', '--output-dir', output_dir,
                '--train-steps', '1', '--rmse-threshold', str(ANY_RMSE), '--verbose',
                '--beam-arg=--runner=PortableRunner', '--beam-arg=--job_endpoint=embed',
                '--beam-arg=--environment_type=EXTERNAL',
                f'--beam-arg=--environment_config=localhost:{worker_pool.port}'])
        finally:
            absl_logger.removeHandler(logs)
            absl_logger.setLevel(level)
    workers = dict(worker_pool.workers)
    assert code == 0, f'{stdout.getvalue()[-3000:]}\nthe pool:\n{worker_pool.log()[-3000:]}'
    output = OutputDir(output_dir)
    with open(output.summary) as f:
        summary = json.load(f)
    examples = run_record.RunRecord.latest(output.metadata).output(run_record.EXAMPLE_GEN,
                                                                   'examples')
    return {'summary': summary, 'examples': examples, 'workers': workers,
            'serving_model': output.serving_model, 'logs': logs.messages}


def test_the_beam_components_ran_in_the_pools_worker_processes(pool_run):
    workers = [command for command in pool_run['workers'].values() if WORKER_MARK in command]
    assert len(workers) >= BEAM_COMPONENTS, pool_run['workers']
    assert os.getpid() not in pool_run['workers']


def test_the_run_is_blessed_and_its_model_pushed(pool_run):
    summary = pool_run['summary']
    assert summary['blessed']
    assert not any(component['cached'] for component in summary['components'].values())
    pushed = summary['pushed_model_dir']
    assert os.path.dirname(pushed) == pool_run['serving_model']
    assert os.path.exists(os.path.join(pushed, 'saved_model.pb'))


def test_the_example_gen_counted_what_its_workers_wrote(pool_run):
    written = {split: len(read_examples(pool_run['examples'].uri, split, [features.USER_ID]))
               for split in features.SPLITS}
    assert sum(written.values()) == RATINGS
    counted = ', '.join(f'{count} {split}' for split, count in written.items())
    assert f'MovieLens examples (100k format, hash split): {counted}.' in pool_run['logs']
    assert any(message.startswith('Skipped 2 bad rating rows') for message in pool_run['logs'])
    # StatisticsGen's, also counted in the workers.
    assert pool_run['summary']['data']['split_counts'] == written
    assert pool_run['summary']['data']['skipped_rows'] == 2
    assert pool_run['examples'].get_int_custom_property(SKIPPED_ROWS_PROPERTY) == 2
