"""Ctrl-C (SIGINT) and SIGTERM during a run, sent for real to local_runner.py in a process of
its own while its Trainer runs.

One output dir, a copy of the shared complete run, goes through three runs with a Trainer
setting of their own, so that everything upstream comes from the cache and the Trainer runs:
1. SIGINT in the Trainer;
2. the same command, SIGTERM in the Trainer;
3. the same command again completes, taking what the first two finished from the cache.
Each interrupted run stops at once, says in one line what it stopped and how to resume, with
no traceback, exits 128 + the signal, releases its lock, pushes nothing, marks the stopped
execution CANCELED in MLMD and writes a report that says it was interrupted.
"""
import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

import local_runner
from runs import local, record
from runs.output_dir import OutputDir
from tests.conftest import copy_run
from tests.reporting.page import Page, text
from tests.runs import edges

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINER_RUNNING = re.compile(r'^\s+Trainer\s+running\s*$')
TRAINER_INTERRUPTED = re.compile(r'^\s+Trainer\s+interrupted\s+[0-9.]+ s$')
# As fast as Ctrl-C stopped a run before it said anything: the progress line comes from
# MLMD, polled twice a second; the rest is a loaded test machine's margin.
STOP_SECONDS = 10
DEADLINE_SECONDS = 600
UPSTREAM = (record.EXAMPLE_GEN, record.STATISTICS_GEN, 'Transform')


@dataclasses.dataclass
class Interrupted:
    code: int
    out: str
    err: str
    stop_seconds: float  # from the signal to the progress line `Trainer interrupted`
    served: dict  # serving_model/ after the run
    lock: str  # what the lock file said after the run
    trainer: record.Execution  # the stopped Trainer's execution
    page: Page  # the report the run wrote


@pytest.fixture(scope='module')
def output_dir(completed_run, tmp_path_factory) -> str:
    return copy_run(completed_run, str(tmp_path_factory.mktemp('interrupts') / 'run'))


@pytest.fixture(scope='module')
def flags(completed_run, output_dir) -> list:
    # Not the complete run's Trainer: this one must run, and is quick when it does.
    return edges.rerun_flags(completed_run, output_dir, '--train-steps', '2')


@pytest.fixture(scope='module')
def served_before(output_dir) -> dict:
    return edges.serving_tree(output_dir)


def interrupt_in_trainer(flags, output_dir, signal_number, tmp_path) -> Interrupted:
    """local_runner.py with these flags, sent the signal once its Trainer runs."""
    stderr_path = str(tmp_path / 'stderr')
    with open(stderr_path, 'w') as stderr:
        process = subprocess.Popen([sys.executable, 'local_runner.py', *flags], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True)
    watchdog = threading.Timer(DEADLINE_SECONDS, process.kill)
    watchdog.start()
    out, sent, stopped = [], None, None
    try:
        # Read every line until the end: a child blocked on a full pipe cannot exit.
        for line in process.stdout:
            out.append(line)
            if sent is None and TRAINER_RUNNING.match(line):
                process.send_signal(signal_number)
                sent = time.monotonic()
            elif sent is not None and stopped is None and TRAINER_INTERRUPTED.match(line):
                stopped = time.monotonic()
        code = process.wait(timeout=60)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    with open(stderr_path) as f:
        err = f.read()
    assert sent is not None, 'the run ended before its Trainer ran:\n' + ''.join(out) + err
    executions = record.RunRecord.latest(OutputDir(output_dir).metadata).executions()
    return Interrupted(code, ''.join(out), err,
                       stopped - sent if stopped else float('inf'),
                       edges.serving_tree(output_dir), edges.lock_holder(output_dir),
                       executions[record.TRAINER], edges.read_page(output_dir))


@pytest.fixture(scope='module')
def sigint(flags, output_dir, served_before, tmp_path_factory) -> Interrupted:
    return interrupt_in_trainer(flags, output_dir, signal.SIGINT,
                                tmp_path_factory.mktemp('sigint'))


@pytest.fixture(scope='module')
def sigterm(sigint, flags, output_dir, tmp_path_factory) -> Interrupted:
    return interrupt_in_trainer(flags, output_dir, signal.SIGTERM,
                                tmp_path_factory.mktemp('sigterm'))


@pytest.fixture(scope='module')
def completed(sigterm, flags, output_dir) -> dict:
    assert local_runner.main(flags) == local.EXIT_OK
    return edges.read_summary(output_dir)


def status(page: Page) -> str:
    """The run's status badge, the first in the page's status line."""
    return text(page.root.find_class('status')[0].find_class('badge')[0])


@pytest.mark.parametrize('name, code', [('SIGINT', 130), ('SIGTERM', 143)])
def test_an_interrupt_stops_the_trainer_at_once_and_says_how_to_resume(name, code, request,
                                                                       served_before):
    run = request.getfixturevalue(name.lower())
    assert run.code == code, run.err
    assert run.stop_seconds < STOP_SECONDS, run.out
    assert ('The run was interrupted ({}) in Trainer. The same command resumes it from the '
            'cache.'.format(name)) in edges.lines(run.err)
    assert 'Traceback' not in run.err
    assert [line for line in run.out.splitlines() if TRAINER_INTERRUPTED.match(line)]
    # Upstream came from the cache: the run reached the Trainer as a rerun does.
    for component in UPSTREAM:
        assert re.search(rf'^\s+{component}\s+cached', run.out, re.MULTILINE), component
    # An orderly end: the lock file no longer names the run (a killed run's still would).
    assert run.lock == ''
    assert run.served == served_before
    assert run.trainer.last_known_state == record.Execution.CANCELED


@pytest.mark.parametrize('name', ['SIGINT', 'SIGTERM'])
def test_the_report_of_an_interrupted_run_says_so(name, request):
    page = request.getfixturevalue(name.lower()).page
    assert status(page) == 'interrupted in Trainer'
    assert text(page.root.find('.//pre')) == f'The run was interrupted ({name}) in Trainer.'
    states = {row[0]: row[1] for row in page.rows('timings-table')}
    assert states[record.TRAINER] == record.INTERRUPTED
    assert 'Evaluator did not run: the run was interrupted in Trainer.' in page.section(
        'evaluation')


def test_the_same_command_then_completes_from_the_cache(completed, sigint, sigterm,
                                                        output_dir):
    components = completed['components']
    assert all(components[name]['cached'] for name in UPSTREAM)
    assert not components[record.TRAINER]['cached']
    executions = record.RunRecord.latest(OutputDir(output_dir).metadata).executions()
    assert record.state(executions[record.TRAINER]) == record.DONE
    # The two stopped Trainers stay CANCELED in MLMD, and are not this run's.
    assert executions[record.TRAINER].id > sigterm.trainer.id > sigint.trainer.id
    store = record.connect(OutputDir(output_dir).metadata)
    assert [e.last_known_state for e in store.get_executions_by_id(
        [sigint.trainer.id, sigterm.trainer.id])] == [record.Execution.CANCELED] * 2
    page = edges.read_page(output_dir)
    assert status(page) == 'completed'
    states = {row[0]: row[1] for row in page.rows('timings-table')}
    assert list(states) == list(components)
    assert states[record.TRAINER] == record.DONE
    assert record.INTERRUPTED not in states.values()
