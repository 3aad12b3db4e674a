"""Ctrl-C (SIGINT) and SIGTERM (kill, systemd, Kubernetes) during a local run.

Both raise Interrupted in the main thread, the way Python turns Ctrl-C into
KeyboardInterrupt: the running component stops at once, whichever it is, and the run can
say in one line what was interrupted instead of dying with a traceback (SIGINT) or without
a word (SIGTERM). Interrupted is a KeyboardInterrupt, so TFX, Beam and TensorFlow, which
catch Exception to record a failure, let it through as they let Ctrl-C through.

But TensorFlow's C++ calls back into Python (the len() of a shape, the isinstance checks of
its op dispatcher) and drops an error raised there: an interrupt that lands in such a call
is lost, and the run went on to train, evaluate and push (2 of 40 SIGINTs sent in the first
second of a Trainer). Python drops one raised in a __del__ or a weakref callback too, with
a traceback on stderr. So while the pipeline runs (Catcher.call) the first signal is raised
again every REPEAT_SECONDS until the pipeline stops, and a dropped one is not printed.
"""
import contextlib
import signal
import sys
import threading
import time
from typing import Callable, Optional, TypeVar

REPEAT_SECONDS = 1.0
T = TypeVar('T')

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
    """Remembers the first signal, which an error raised in its place does not say, and
    raises it again while call() runs."""

    def __init__(self):
        self.received: Optional[Interrupted] = None
        self._lock = threading.Lock()
        self._repeating = True  # until the call ends
        self._repeat_sent = False  # a repeat is on its way to _handle

    def call(self, function: Callable[..., T], *args) -> T:
        """function(*args), where an interrupt that was lost is raised again; once."""
        try:
            return function(*args)
        finally:
            self._stop_repeats()

    def _handle(self, signal_number, frame):
        if self._repeat_sent:
            self._repeat_sent = False
            # Not lost if the call has stopped, or if the interrupt is on its way out of
            # it (the finally blocks and __exit__s it passes see it as being handled).
            if (not _inside(frame, self.call)
                    or isinstance(sys.exc_info()[1], KeyboardInterrupt)):
                return
        interrupted = Interrupted(signal_number)
        if self.received is None:
            self.received = interrupted
            threading.Thread(target=self._repeat, args=(signal_number,), daemon=True,
                             name='interrupt-repeat').start()
        raise interrupted

    def _repeat(self, signal_number: int):
        # A signal, not _thread.interrupt_main: it also ends a wait the main thread is in.
        while True:
            time.sleep(REPEAT_SECONDS)
            with self._lock:
                if not self._repeating:
                    return
                self._repeat_sent = True
                signal.pthread_kill(threading.main_thread().ident, signal_number)

    def _stop_repeats(self):
        with self._lock:
            self._repeating = False


def _inside(frame, method) -> bool:
    """Whether frame runs within a call of method."""
    code = method.__func__.__code__
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


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
    unraisable_hook = sys.unraisablehook

    def unraisable(report):
        # Within call a dropped interrupt is raised again: it is not lost, and its traceback
        # would only alarm.
        if not (isinstance(report.exc_value, Interrupted)
                and _inside(sys._getframe(), catcher.call)):
            unraisable_hook(report)

    sys.unraisablehook = unraisable
    try:
        yield catcher
    finally:
        catcher._stop_repeats()
        sys.unraisablehook = unraisable_hook
        for number, handler in previous.items():
            signal.signal(number, handler)
