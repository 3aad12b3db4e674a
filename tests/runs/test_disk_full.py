"""--output-dir on a file system that fills up during a run: a tmpfs of a few hundred KB
that the ExampleGen's examples overflow, and a tmpfs holding a copy of the shared complete
run with less room left than the Pusher's two copies of the model need.

Each run stops with one line that names the output dir, says that it is full and what was
being written, with no traceback; nothing lands in serving_model/; the report, when there
is no room for it either, is skipped with one line. Once the tmpfs is remounted bigger,
the same command completes.
"""
import os
import re

import pytest

import local_runner
from components import serving_layout
from datasets import synthetic
from runs import local, record
from runs.output_dir import OutputDir
from tests.conftest import copy_run
from tests.runs import edges

pytestmark = pytest.mark.e2e

# 10000 synthetic ratings make about 400 KB of examples (40 bytes a rating). The store holds
# about 240 KB when the ExampleGen starts, so 448 KB leaves it half the room it needs.
RATINGS = 10_000
EXAMPLE_GEN_DISK = '448k'
BIGGER = '64m'


def full_line(output_dir: str, component: str, what: str) -> str:
    return (f'The run stopped in {component}: {output_dir} is full (no space left on its file '
            f'system while writing {what}). Free some space there, or pass an --output-dir '
            'with more room, and run the same command again: it resumes from the cache.')


def assert_report_written_or_skipped_in_one_line(output_dir: str, out: str, err: str) -> None:
    """The report needs room too: either it is written, or one line says it was not."""
    report_dir = OutputDir(output_dir).report
    skipped = (f'The report was not written to {report_dir} (No space left on device); '
               f'python report.py --output-dir {output_dir} writes it later.')
    assert (skipped in edges.lines(err)) != ('Report: file://' in out), (out, err)


def assert_one_line_and_no_traceback(err: str, line: str) -> None:
    assert line in edges.lines(err)
    assert 'Traceback' not in err
    assert 'database or disk is full' not in err  # MLMD's SQL, which the line explains
    assert 'No model was pushed; the served versions are unchanged.' in edges.lines(err)


def test_full_during_the_example_gen_then_remounted_bigger(tmp_path, capfd):
    data_dir = synthetic.write_grouplens(str(tmp_path / 'data'), RATINGS, seed=7)
    disk = str(tmp_path / 'disk')
    with edges.tmpfs(disk, f'size={EXAMPLE_GEN_DISK}'):
        output_dir = os.path.join(disk, 'output')
        flags = ['--data-dir', data_dir, '--output-dir', output_dir, '--train-steps', '1']

        assert local_runner.main(flags) == local.EXIT_FAILED
        out, err = capfd.readouterr()
        # One of Beam's split writers found the disk full: which one depends on how the
        # bundles were scheduled.
        written = [line for line in edges.lines(err) if line.startswith('The run stopped')]
        split = re.search(r'WriteSplit\[(\w+)\]', written[0]) if written else None
        assert split and split.group(1) in ('train', 'eval', 'test'), err
        what = (f'its outputs (Beam step WriteSplit[{split.group(1)}]/Write/WriteImpl/'
                'WriteBundles)')
        assert_one_line_and_no_traceback(err, full_line(output_dir, record.EXAMPLE_GEN, what))
        assert_report_written_or_skipped_in_one_line(output_dir, out, err)
        assert not os.path.exists(OutputDir(output_dir).serving_model)
        assert edges.lock_holder(output_dir) == ''

        edges.mount('-o', f'remount,size={BIGGER}', disk)
        assert local_runner.main(flags) == local.EXIT_OK
        summary = edges.read_summary(output_dir)
    assert not summary['components'][record.EXAMPLE_GEN]['cached']
    assert sum(summary['data']['split_counts'].values()) == RATINGS


def test_full_during_the_push_then_remounted_bigger(completed_run, tmp_path, capfd):
    served = OutputDir(completed_run).serving_model
    [version] = serving_layout.versions(served)
    model_bytes = sum(_pages(os.path.join(folder, name)) for folder, _, names in
                      os.walk(os.path.join(served, str(version))) for name in names)
    disk = str(tmp_path / 'disk')
    with edges.tmpfs(disk, f'size={BIGGER}'):
        # A copy of the complete run: rerun, every component up to the Pusher comes from
        # the cache, whose artifacts stay in completed_run, outside the tmpfs.
        output_dir = copy_run(completed_run, os.path.join(disk, 'output'))
        served_before = edges.serving_tree(output_dir)
        # Room for the Pusher's first copy of the model (into its artifact) and half of
        # its second, into serving_model/.<version>.tmp; the store grows by a few pages.
        size = edges.used_bytes(disk) + model_bytes * 3 // 2
        edges.mount('-o', f'remount,size={size}', disk)
        flags = edges.rerun_flags(completed_run, output_dir)

        assert local_runner.main(flags) == local.EXIT_FAILED
        out, err = capfd.readouterr()
        line = next((line for line in edges.lines(err) if line.startswith('The run stopped')),
                    None)
        # The file the copy was writing when the disk filled, in the push's temporary dir.
        found = re.fullmatch(re.escape(full_line(output_dir, record.PUSHER, '@')).replace(
            '@', r'serving_model/\.[0-9]+\.tmp/\S+'), line or '')
        assert found, err
        assert_one_line_and_no_traceback(err, line)
        assert_report_written_or_skipped_in_one_line(output_dir, out, err)
        # Nothing half-pushed: serving_model/ is byte for byte as it was, no temporary left.
        assert edges.serving_tree(output_dir) == served_before
        assert edges.lock_holder(output_dir) == ''
        pusher = record.RunRecord.latest(OutputDir(output_dir).metadata).executions()[
            record.PUSHER]
        assert record.state(pusher) == record.FAILED

        edges.mount('-o', f'remount,size={BIGGER}', disk)
        assert local_runner.main(flags) == local.EXIT_OK
        summary = edges.read_summary(output_dir)
        now_served = edges.serving_tree(output_dir)
    assert [name for name, timing in summary['components'].items() if not timing['cached']
            ] == ['latest_blessed_model_resolver', record.PUSHER]
    new_version = os.path.basename(summary['pushed_model_dir'])
    assert int(new_version) > version
    assert {name: value for name, value in now_served.items()
            if name.split(os.sep)[0] != new_version} == served_before
    assert os.path.join(new_version, serving_layout.SAVED_MODEL_FILE) in now_served


def _pages(path: str) -> int:
    """The bytes a file takes on a tmpfs: whole pages."""
    return -(-os.path.getsize(path) // 4096) * 4096
