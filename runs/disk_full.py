"""A full file system under --output-dir, whatever error it surfaces as.

A full disk reaches the runner in several guises: an OSError (ENOSPC) from Python, a
TensorFlow error whose message ends '<file>; No space left on device', a Beam error that
names its step, or MLMD's 'database or disk is full' when TFX then cannot record the
failure in metadata.sqlite; that error replaces the first one, which stays in its
__context__. This module finds the fact, and what was being written, in any of them.
"""
import errno
import os
import re
from typing import List, Optional

from runs.output_dir import OutputDir

_NO_SPACE = os.strerror(errno.ENOSPC)  # 'No space left on device'
# TensorFlow's file errors: '<path>; No space left on device'.
_FILE_WITH_NO_SPACE = re.compile(r'(\S+); ' + re.escape(_NO_SPACE))
_BEAM_STEP = re.compile(r"\[while running '([^']+)'\]")
SQLITE_FULL = 'database or disk is full'


def _chain(error: BaseException) -> List[BaseException]:
    """The error and those that led to it, the first cause first."""
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain[::-1]


def _full(error: BaseException) -> bool:
    return ((isinstance(error, OSError) and error.errno == errno.ENOSPC)
            or _NO_SPACE in str(error) or SQLITE_FULL in str(error))


def is_disk_full(error: BaseException) -> bool:
    """Whether the error, or one that led to it, is a full file system."""
    return any(_full(e) for e in _chain(error))


def _written(error: BaseException, output_dir: OutputDir) -> str:
    """What was being written when the disk filled, as far as the errors say: a file, else
    the Beam step (whose OSError names no file), else MLMD's store."""
    chain = _chain(error)
    for e in chain:
        if not _full(e):
            continue
        path = e.filename if isinstance(e, OSError) and e.filename else None
        found = _FILE_WITH_NO_SPACE.search(str(e))
        path = os.fspath(path) if path else found.group(1) if found else None
        if path:
            inside = os.path.abspath(path).startswith(output_dir.path + os.sep)
            return os.path.relpath(path, output_dir.path) if inside else path
    for e in chain:
        step = _BEAM_STEP.search(str(e))
        if step:
            return f'its outputs (Beam step {step.group(1)})'
    if any(SQLITE_FULL in str(e) for e in chain):
        return "the run's record, metadata.sqlite"
    return 'its outputs'


def message(output_dir: OutputDir, error: BaseException, component: Optional[str]) -> str:
    """One line: where the run stopped, that the dir is full, what was being written, and
    the fix."""
    what = _written(error, output_dir)
    if not component and what == 'its outputs':
        what = "the run's files"
    where = f' in {component}' if component else ''
    return (f'The run stopped{where}: {output_dir.path} is full (no space left on its file '
            f'system while writing {what}). Free some space there, or pass an --output-dir '
            'with more room, and run the same command again: it resumes from the cache.')
