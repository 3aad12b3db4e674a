"""What runs/disk_full.py finds in the errors a full disk surfaces as, built as TFX, Beam and
TensorFlow chain them (seen in tests/runs/test_disk_full.py's real runs)."""
import errno
import os

from runs import disk_full
from runs.output_dir import OutputDir

OUTPUT_DIR = OutputDir('/data/run')
NO_SPACE = os.strerror(errno.ENOSPC)


def chained(*errors: BaseException) -> BaseException:
    """The last error, raised while handling each one before it."""
    for cause, error in zip(errors, errors[1:]):
        error.__context__ = cause
    return errors[-1]


def written(error: BaseException) -> str:
    line = disk_full.message(OUTPUT_DIR, error, 'Component')
    return line.split('while writing ', 1)[1].split('). Free', 1)[0]


def test_beam_names_the_step_whose_os_error_names_no_file():
    # Beam wraps the writer's OSError; TFX then cannot record the failure in a full MLMD.
    error = chained(OSError(errno.ENOSPC, NO_SPACE),
                    RuntimeError(f"OSError: [Errno 28] {NO_SPACE} [while running "
                                 "'WriteSplit[train]/Write']"),
                    RuntimeError(f'Error when executing query: {disk_full.SQLITE_FULL} '
                                 'query: UPDATE `Execution` ...'))
    assert disk_full.is_disk_full(error)
    assert written(error) == 'its outputs (Beam step WriteSplit[train]/Write)'


def test_a_file_inside_the_output_dir_is_named_relative_to_it():
    error = RuntimeError(f'/data/run/serving_model/.7.tmp/saved_model.pb; {NO_SPACE}')
    assert written(error) == os.path.join('serving_model', '.7.tmp', 'saved_model.pb')


def test_an_os_error_names_its_file():
    error = OSError(errno.ENOSPC, NO_SPACE, '/elsewhere/tmp/file')
    assert written(error) == '/elsewhere/tmp/file'


def test_only_mlmd_full():
    assert written(RuntimeError(f'{disk_full.SQLITE_FULL} query: INSERT ...')) == (
        "the run's record, metadata.sqlite")


def test_other_errors_are_not_a_full_disk():
    assert not disk_full.is_disk_full(chained(OSError(errno.EACCES, 'Permission denied'),
                                              ValueError('bad')))
