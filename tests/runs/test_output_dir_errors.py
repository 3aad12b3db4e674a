"""An --output-dir that cannot hold a run: a file, a path under a file, a directory this user
may not write, a read-only mount. Each is one line on stderr that names the path and the
problem, exit 1, before anything is written. Once the path is fixed, the same command goes
past it, to its data, which these tests leave missing so that no pipeline runs.

(A full file system: tests/runs/test_disk_full.py.)
"""
import os
import shutil
import subprocess
import sys

import pytest

import local_runner
from runs import local
from tests.runs import edges

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def command(output_dir, tmp_path) -> list:
    return ['--data-dir', str(tmp_path / 'no-such-data'), '--output-dir', str(output_dir)]


def assert_refused(code: int, err: str, message: str) -> None:
    assert code == local.EXIT_FAILED
    assert edges.lines(err) == [f'error: {message}']


def assert_goes_past_the_output_dir(argv, tmp_path, capsys) -> None:
    code = local_runner.main(argv)
    err = capsys.readouterr().err
    assert code == local.EXIT_FAILED
    assert edges.lines(err)[-1].startswith(
        f'The run did not start: --data-dir {tmp_path / "no-such-data"} does not exist.')


def test_a_file(tmp_path, capsys):
    path = tmp_path / 'output'
    path.write_text('notes\n')
    argv = command(path, tmp_path)
    assert_refused(local_runner.main(argv), capsys.readouterr().err,
                   f'--output-dir {path} is a file, not a directory. Pass a directory (a new '
                   'one, or one that earlier runs wrote).')
    assert path.read_text() == 'notes\n'
    path.unlink()
    assert_goes_past_the_output_dir(argv, tmp_path, capsys)


def test_a_path_under_a_file(tmp_path, capsys):
    file = tmp_path / 'notes.txt'
    file.write_text('notes\n')
    path = file / 'output'
    argv = command(path, tmp_path)
    assert_refused(local_runner.main(argv), capsys.readouterr().err,
                   f'--output-dir {path} lies under {file}, which is a file, not a directory. '
                   'Pass a directory (a new one, or one that earlier runs wrote).')
    assert file.read_text() == 'notes\n'
    file.unlink()
    assert_goes_past_the_output_dir(argv, tmp_path, capsys)


def test_a_directory_this_user_may_not_write(tmp_path, capsys):
    parent = tmp_path / 'locked'
    parent.mkdir()
    parent.chmod(0o555)
    path = parent / 'output'
    argv = command(path, tmp_path)
    user = []
    if os.geteuid() == 0:
        # Root writes anywhere; without these capabilities it obeys the mode bits, as any
        # other user does.
        if not shutil.which('setpriv'):
            pytest.skip('running as root, and setpriv (util-linux) is not installed to drop '
                        'root\'s power to write a read-only directory')
        user = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search',
                '--inh-caps', '-dac_override,-dac_read_search', '--']
    # A process of its own: the refusal comes before TFX or TensorFlow is imported.
    result = subprocess.run([*user, sys.executable, 'local_runner.py', *argv], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert_refused(result.returncode, result.stderr,
                   f'--output-dir {path} cannot be written (Permission denied). Give this '
                   'user write access to it, or pass another directory.')
    assert result.stdout == ''
    assert os.listdir(parent) == []
    parent.chmod(0o755)
    assert_goes_past_the_output_dir(argv, tmp_path, capsys)


def test_a_read_only_mount(tmp_path, capsys):
    mount_point = str(tmp_path / 'mount')
    with edges.tmpfs(mount_point, 'ro', 'size=1m'):
        path = os.path.join(mount_point, 'output')
        argv = command(path, tmp_path)
        assert_refused(local_runner.main(argv), capsys.readouterr().err,
                       f'--output-dir {path} is on a read-only file system. Pass a directory '
                       'on a writable one.')
        assert os.listdir(mount_point) == []
        edges.mount('-o', 'remount,rw', mount_point)
        assert_goes_past_the_output_dir(argv, tmp_path, capsys)
