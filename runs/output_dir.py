"""Where a local run keeps everything it writes: one --output-dir, laid out as below, and
the one-line errors for a path that cannot be one."""
import dataclasses
import errno
import os

from pipeline import configs


@dataclasses.dataclass(frozen=True)
class OutputDir:
    path: str

    def _join(self, *names: str) -> str:
        return os.path.join(self.path, *names)

    @property
    def pipeline_root(self) -> str:
        """Every artifact of every run, by component and execution."""
        return self._join('pipeline_root')

    @property
    def metadata(self) -> str:
        """MLMD: the cache and the lineage of every run."""
        return self._join('metadata.sqlite')

    @property
    def serving_model(self) -> str:
        """The pushed models, in TF Serving's numbered layout."""
        return self._join(configs.SERVING_MODEL_SUBDIR)

    @property
    def summary(self) -> str:
        return self._join('run_summary.json')

    @property
    def report(self) -> str:
        """The run report's folder: index.html and its figures."""
        return self._join('report')

    @property
    def report_page(self) -> str:
        """The run report itself."""
        return os.path.join(self.report, 'index.html')

    @property
    def lock(self) -> str:
        """Held by the run that is using the dir."""
        return self._join('.lock')

    @property
    def downloads(self) -> str:
        return self._join('downloads')

    def synthetic_data(self, data_format: str, ratings: int, seed: int) -> str:
        """Generated files, one folder per format, size and seed."""
        return self._join('synthetic-data', f'{data_format}-{ratings}-ratings-seed{seed}')

    @property
    def up_to_date(self) -> str:
        """The key of the last completed run (runs/up_to_date.py)."""
        return self._join('.up_to_date.json')


class OutputDirError(Exception):
    """--output-dir cannot hold a run; the message names the path, the problem and the fix."""


def prepare(path: str) -> OutputDir:
    """The output dir at path, created if need be and known to be writable.

    Raises OutputDirError when path is a file, or lies under one, or cannot be written.
    """
    output_dir = OutputDir(os.path.abspath(path))
    path = output_dir.path
    try:
        os.makedirs(path, exist_ok=True)
        # The run's first write; as root, os.access would not see a read-only mount.
        os.close(os.open(output_dir.lock, os.O_RDWR | os.O_CREAT, 0o644))
    except (FileExistsError, NotADirectoryError):
        raise OutputDirError(_not_a_directory(path)) from None
    except OSError as error:
        raise OutputDirError(_unwritable(path, error)) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputDirError(_unwritable(path, OSError(
            errno.EACCES, os.strerror(errno.EACCES), path)))
    return output_dir


def _not_a_directory(path: str) -> str:
    file = path
    while os.path.isdir(file) or not os.path.lexists(file):
        if os.path.dirname(file) == file:
            break
        file = os.path.dirname(file)
    where = 'is a file' if file == path else f'lies under {file}, which is a file'
    return (f'--output-dir {path} {where}, not a directory. Pass a directory (a new one, or '
            'one that earlier runs wrote).')


def _unwritable(path: str, error: OSError) -> str:
    if error.errno == errno.EROFS:
        return (f'--output-dir {path} is on a read-only file system. Pass a directory on a '
                'writable one.')
    if error.errno == errno.ENOSPC:
        return (f'--output-dir {path} is on a full file system. Free some space there, or '
                'pass a directory with room.')
    return (f'--output-dir {path} cannot be written ({error.strerror}). Give this user write '
            'access to it, or pass another directory.')
