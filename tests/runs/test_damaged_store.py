"""A damaged metadata.sqlite: pages in the middle of the file overwritten, as a bad copy or a
disk that failed mid-write leaves it.

Both local_runner.py and report.py refuse it in one line, before anything runs or is
written, and say what the file holds and what to do. Done as they say, the next run starts
a new store and completes.
"""
import os
import shutil
import time

import pytest

import local_runner
import report as report_cli
from components import serving_layout
from runs import local
from runs.output_dir import OutputDir
from tests.conftest import copy_run
from tests.runs import edges

PAGE = 4096  # SQLite's page size in MLMD's files


def damage(path: str) -> None:
    """Overwrites four whole pages in the middle of the file."""
    middle = os.path.getsize(path) // 2 // PAGE * PAGE
    with open(path, 'r+b') as f:
        f.seek(middle)
        f.write(b'\xa5' * 4 * PAGE)


def damaged_message(output_dir: str) -> str:
    path = OutputDir(output_dir).metadata
    root = OutputDir(output_dir).pipeline_root
    return (f'error: {path} is damaged (SQLite: database disk image is malformed). It holds '
            f'the cache and lineage of the earlier runs in {output_dir}: not the served '
            'models (serving_model/), which stay as they are, nor the artifacts themselves '
            '(pipeline_root/), which only it names. Move both aside (mv '
            f'{path} {path}.damaged; mv {root} {root}.damaged) and run again: the next run '
            'starts a new store and rebuilds what it needs.')


@pytest.fixture
def damaged(completed_run, tmp_path) -> str:
    """A copy of the complete run whose metadata.sqlite is damaged."""
    output_dir = copy_run(completed_run, str(tmp_path / 'run'))
    damage(OutputDir(output_dir).metadata)
    return output_dir


def contents(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def test_a_run_refuses_it_before_anything_runs(damaged, completed_run, capsys):
    metadata = OutputDir(damaged).metadata
    before = contents(metadata), edges.serving_tree(damaged), os.listdir(damaged)
    started = time.monotonic()
    code = local_runner.main(edges.rerun_flags(completed_run, damaged, '--train-steps', '1'))
    seconds = time.monotonic() - started

    captured = capsys.readouterr()
    assert code == local.EXIT_FAILED
    assert edges.lines(captured.err) == [damaged_message(damaged)]
    assert captured.out == ''
    # Checked before the run's imports: a moment, not the seconds TFX takes to import.
    assert seconds < 5
    # Nothing written: the store as it was, nothing pushed, no report or summary anew.
    assert (contents(metadata), edges.serving_tree(damaged), os.listdir(damaged)) == before


def test_report_cli_says_the_same(damaged, capsys):
    report_dir = OutputDir(damaged).report
    before = {name: contents(os.path.join(report_dir, name)) for name in os.listdir(report_dir)}
    assert report_cli.main(['--output-dir', damaged]) == report_cli.EXIT_NO_RUN
    captured = capsys.readouterr()
    assert edges.lines(captured.err) == [damaged_message(damaged)]
    assert {name: contents(os.path.join(report_dir, name))
            for name in os.listdir(report_dir)} == before


@pytest.mark.e2e
def test_moved_aside_as_the_message_says_the_next_run_completes(damaged, completed_run,
                                                                capsys):
    flags = edges.rerun_flags(completed_run, damaged, '--train-steps', '1')
    served = edges.serving_tree(damaged)
    [old_version] = serving_layout.versions(OutputDir(damaged).serving_model)
    assert local_runner.main(flags) == local.EXIT_FAILED
    # The two moves of the message.
    for path in (OutputDir(damaged).metadata, OutputDir(damaged).pipeline_root):
        shutil.move(path, path + '.damaged')
    capsys.readouterr()

    assert local_runner.main(flags) == local.EXIT_OK
    summary = edges.read_summary(damaged)
    # A new store: nothing to take from a cache, every component ran.
    assert not any(timing['cached'] for timing in summary['components'].values())
    # It knows no served model to beat, so the bound alone blessed the model, and the push
    # is a new version beside the old one, which is untouched.
    assert summary['gate']['baseline_rmse'] is None
    assert summary['blessed']
    new_version = os.path.basename(summary['pushed_model_dir'])
    assert int(new_version) > old_version
    now_served = edges.serving_tree(damaged)
    assert {name: value for name, value in now_served.items()
            if name.split(os.sep)[0] != new_version} == served
    assert os.path.exists(os.path.join(summary['pushed_model_dir'],
                                       serving_layout.SAVED_MODEL_FILE))
