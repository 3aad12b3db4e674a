"""One run at a time in an output dir: an flock on <output-dir>/.lock."""
import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys


class OutputDirBusy(Exception):
    """Another run holds the output dir; the message names the lock file and that run."""


@contextlib.contextmanager
def exclusive_run(lock_path: str):
    """Holds the lock while the block runs; raises OutputDirBusy at once if another process
    holds it.

    An flock, not a pid file: the kernel releases it when its process ends, however it
    ends, so a killed run never leaves a stale lock. The file names the holder, for the
    message of the run that is refused.
    """
    # Not opened with truncation: that would wipe the holder's details before we know
    # whether there is a holder.
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputDirBusy(
                f'{os.path.dirname(lock_path)} is in use by another run: {lock_path} is held '
                f'by {_holder(descriptor)}. Wait for that run to end, or pass another '
                '--output-dir.') from None
        holder = {'pid': os.getpid(), 'host': socket.gethostname(),
                  'started': datetime.datetime.now().isoformat(timespec='seconds'),
                  'command': ' '.join(sys.argv)}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock


def _holder(descriptor: int) -> str:
    """The process that holds the lock, as it described itself in the lock file."""
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0))
        return (f'process {holder["pid"]} on {holder["host"]} ({holder["command"]}), '
                f'running since {holder["started"]}')
    except (ValueError, KeyError, TypeError):
        # The holder took the lock a moment ago and has not written its details yet.
        return 'a process that is just starting'
