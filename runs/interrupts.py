"""Ctrl-C (SIGINT) and SIGTERM (kill, systemd, Kubernetes) during a local run.

Both raise Interrupted in the main thread, the way Python turns Ctrl-C into
KeyboardInterrupt: the running component stops at once, whichever it is, and the run can
say in one line what was interrupted instead of dying with a traceback (SIGINT) or without
a word (SIGTERM). Interrupted is a KeyboardInterrupt, so TFX, Beam and TensorFlow, which
catch Exception to record a failure, let it through as they let Ctrl-C through.

But TensorFlow's C++ calls back into Python (the len() of a shape, the isinstance checks of
its op dispatcher) and drops an error raised there, and Python drops one raised in a
__del__ or a weakref callback (with a traceback on stderr): an interrupt that lands there
is lost, and the run went on to train, evaluate and push. So while the pipeline runs
(Catcher.call) the interrupt is raised again every REPEAT_SECONDS until the pipeline
stops, and a dropped one is not printed, nor an error raised from it.
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
# The repeats have a signal of their own, so that a Ctrl-C is never taken for one.
REPEAT_SIGNAL = getattr(signal, 'SIGRTMIN', signal.SIGUSR2)


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
        self._before_repeats = None  # REPEAT_SIGNAL's handler before the first signal

    def call(self, function: Callable[..., T], *args) -> T:
        """function(*args), where an interrupt that was lost is raised again."""
        return function(*args)

    def _handle(self, signal_number, frame):
        interrupted = Interrupted(signal_number)
        if self.received is None:
            self.received = interrupted
            self._before_repeats = signal.signal(REPEAT_SIGNAL, self._handle_repeat)
            threading.Thread(target=self._repeat, daemon=True, name='interrupt-repeat').start()
        raise interrupted

    def _end_repeats(self):
        """A repeat sent as the call ended may still arrive: REPEAT_SIGNAL is then ignored,
        where its default would end the process."""
        if self._before_repeats is not None:
            before, self._before_repeats = self._before_repeats, None
            signal.signal(REPEAT_SIGNAL,
                          signal.SIG_IGN if before == signal.SIG_DFL else before)

    def _handle_repeat(self, signal_number, frame):
        # Outside the call, or on the interrupt's way out of it, a raise would only cut
        # short what handles it: the finally blocks it passes, the report, the lock's release.
        if _inside(frame, self.call) and not _handling_interrupt():
            raise Interrupted(self.received.signal_number)

    def _repeat(self):
        main = threading.main_thread().ident
        while True:
            time.sleep(REPEAT_SECONDS)
            # The main thread's own stack says whether the call still runs: it may never
            # run the code that would say so.
            frame = sys._current_frames().get(main)
            if frame is None or not _inside(frame, self.call):
                return
            signal.pthread_kill(main, REPEAT_SIGNAL)


def _inside(frame, method) -> bool:
    """Whether frame runs within a call of method."""
    code = method.__func__.__code__
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def _handling_interrupt() -> bool:
    """Whether the main thread is handling a KeyboardInterrupt (in a finally block or an
    __exit__ it passes), or an error raised while it did, or raised from it."""
    return _chained_to_interrupt(sys.exc_info()[1], follow_context=True)


def _raised_from_interrupt(error: BaseException) -> bool:
    """Whether error is a KeyboardInterrupt or was raised from one: as the SystemError
    Python raises when an interrupt lands in an import that C code made ("returned a result
    with an exception set"). An error merely raised while one was handled is not."""
    return _chained_to_interrupt(error, follow_context=False)


def _chained_to_interrupt(error: Optional[BaseException], follow_context: bool) -> bool:
    seen = set()  # `raise error from error` makes a loop
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or (error.__context__ if follow_context else None)
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
        if not (catcher.received is not None and _raised_from_interrupt(report.exc_value)
                and _inside(sys._getframe(), catcher.call)):
            unraisable_hook(report)

    sys.unraisablehook = unraisable
    try:
        yield catcher
    finally:
        catcher._end_repeats()
        sys.unraisablehook = unraisable_hook
        for number, handler in previous.items():
            signal.signal(number, handler)
