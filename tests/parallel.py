"""How `make test` spreads the tests over the machine's cores (pytest-xdist, `-n auto`).

The unit of work is a folder of tests/ (a file, at the top of tests/): the session fixtures
of a folder's conftest are then built by one worker, not by each. Workers take the folders
that run pipelines first, so that the last ones to start are short and the workers finish
together. A fixture that several folders share is built once for all workers by built_once.
"""
import fcntl
import os
import pathlib
import shutil
from typing import Callable

TESTS = pathlib.Path(__file__).parent
ROOT = TESTS.parent


def worker_group(nodeid: str) -> str:
    """The folder of tests/ that a test belongs to, or its file at the top of tests/."""
    path = pathlib.PurePosixPath(nodeid.split('::')[0]).relative_to(TESTS.relative_to(ROOT))
    return str(path.parent if len(path.parts) > 1 else path)


def in_worker() -> bool:
    return bool(os.environ.get('PYTEST_XDIST_WORKER'))


def pipelines_first(items: list) -> None:
    """Sorts the collected tests, in place: the groups with a test marked e2e first, each
    kind in the order it had (pytest-randomly's)."""
    runs_pipeline = {worker_group(item.nodeid) for item in items
                     if item.get_closest_marker('e2e')}
    items.sort(key=lambda item: worker_group(item.nodeid) not in runs_pipeline)


def make_scheduler(config, log):
    """xdist's scheduling by scope, with worker_group as the scope, in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class FolderScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    config.option.loadscopereorder = False  # keep pipelines_first's order, not by size
    return FolderScheduling(config, log)


def built_once(tmp_path_factory, name: str, build: Callable[[str], None]) -> str:
    """The directory `name`, which build(path) fills in only one of the test processes.

    xdist's workers have their base temp dirs in one parent: the first worker to get here
    builds the directory there while holding a lock, and the others wait, then read it.
    Without xdist, it is a directory in the base temp dir.
    """
    root = tmp_path_factory.getbasetemp()
    if in_worker():
        root = root.parent
    path, built = root / name, root / f'{name}.built'
    with open(root / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            build(str(path))
            built.touch()
    return str(path)
