"""Two runs into one output dir: the second refuses at once, and a dead run holds nothing.

Another process holds <output-dir>/.lock through runs.lock.exclusive_run, as a run
does for its whole length. (tests/test_local_runner_history.py also starts a
second run while a real one is training.)
"""
import os
import signal
import subprocess
import sys
import time

import pytest

import local_runner
from runs import local, lock
from runs.output_dir import OutputDir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOLD_THE_LOCK = '''
import sys
from runs import lock
from runs.output_dir import OutputDir
with lock.exclusive_run(OutputDir(sys.argv[1]).lock):
    print('holding', flush=True)
    sys.stdin.read()  # until the test closes stdin, or kills this process
'''


@pytest.fixture
def output_dir(tmp_path):
    path = tmp_path / 'output'
    path.mkdir()
    return str(path)


@pytest.fixture
def holder(output_dir):
    """A process holding the output dir's lock."""
    process = subprocess.Popen([sys.executable, '-c', HOLD_THE_LOCK, output_dir], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == 'holding\n'
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def snapshot(directory) -> dict:
    contents = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), 'rb') as f:
            contents[name] = f.read()
    return contents


def test_a_second_run_refuses_at_once_naming_the_lock_and_the_holder(holder, output_dir,
                                                                     capsys):
    before = snapshot(output_dir)
    started = time.monotonic()
    code = local_runner.main(['--source', 'synthetic', '--synthetic-ratings', '500',
                              '--output-dir', output_dir])
    seconds = time.monotonic() - started

    assert code == local.EXIT_BUSY
    assert seconds < 5
    err = capsys.readouterr().err
    lock_path = OutputDir(output_dir).lock
    assert err.startswith(f'error: {output_dir} is in use by another run: {lock_path} is held '
                          f'by process {holder.pid} on ')
    assert 'pass another --output-dir' in err
    # It wrote nothing: no synthetic data, no metadata, the holder's details intact.
    assert snapshot(output_dir) == before
    assert holder.poll() is None


def test_a_killed_run_leaves_no_stale_lock(holder, output_dir, capsys):
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    # A data dir that does not exist: the run gets past the lock, then stops at once.
    code = local_runner.main(['--data-dir', os.path.join(output_dir, 'nowhere'),
                              '--output-dir', output_dir])
    assert code == local.EXIT_FAILED
    assert 'The run did not start: --data-dir' in capsys.readouterr().err


def test_the_lock_is_released_when_a_run_ends(output_dir):
    with lock.exclusive_run(OutputDir(output_dir).lock):
        with pytest.raises(lock.OutputDirBusy, match=f'process {os.getpid()} on '):
            with lock.exclusive_run(OutputDir(output_dir).lock):
                pass
    with lock.exclusive_run(OutputDir(output_dir).lock):
        pass
