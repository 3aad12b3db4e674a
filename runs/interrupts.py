"""Ctrl-C (SIGINT) and SIGTERM (kill, systemd, Kubernetes) during a local run.

Both raise Interrupted in the main thread, the way Python turns Ctrl-C into
KeyboardInterrupt: the running component stops at once, whichever it is, and the run can
say in one line what was interrupted instead of dying with a traceback (SIGINT) or without
a word (SIGTERM). Interrupted is a KeyboardInterrupt, so TFX, Beam and TensorFlow, which
catch Exception to record a failure, let it through as they let Ctrl-C through.
"""
import contextlib
import signal
import threading
from typing import Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run received SIGINT or SIGTERM."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number

    @property
    def name(self) -> str:
        return signal.Signals(self.signal_number).name

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process the signal ended:
        130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signal_number


class Catcher:
    """Remembers the first signal, which an error raised in its place does not say."""

    def __init__(self):
        self.received: Optional[Interrupted] = None

    def _handle(self, signal_number, frame):
        interrupted = Interrupted(signal_number)
        if self.received is None:
            self.received = interrupted
        raise interrupted


@contextlib.contextmanager
def raised_as_exceptions():
    """Within the block SIGINT and SIGTERM raise Interrupted; the handlers before are
    restored afterwards. Yields a Catcher.

    Python runs signal handlers in the main thread only: elsewhere (a run started from a
    thread) the signals keep their handlers.
    """
    catcher = Catcher()
    if threading.current_thread() is not threading.main_thread():
        yield catcher
        return
    previous = {number: signal.signal(number, catcher._handle) for number in SIGNALS}
    try:
        yield catcher
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
