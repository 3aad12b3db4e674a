"""An interrupt that is lost (TensorFlow's C++ clears an error raised in a Python callback;
Python drops one raised in a __del__) is raised again within Catcher.call, and only there.

Real signals, sent to this process. Python runs signal handlers in the main thread, where
pytest (and each pytest-xdist worker) runs the tests.
"""
import os
import signal
import sys
import threading
import time

import pytest

from runs import interrupts

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason='signal handlers run in the main thread only')

REPEAT_SECONDS = 0.2


@pytest.fixture(autouse=True)
def quick_repeats(monkeypatch):
    monkeypatch.setattr(interrupts, 'REPEAT_SECONDS', REPEAT_SECONDS)


@pytest.fixture
def unraisable(monkeypatch) -> list:
    """What reaches the hook before ours (Python's prints it on stderr)."""
    reports = []
    monkeypatch.setattr(sys, 'unraisablehook', lambda report: reports.append(report.exc_value))
    return reports


def dropped(signal_number: int) -> None:
    """Sends the signal and drops the interrupt it raises, as TensorFlow's C++ did."""
    try:
        os.kill(os.getpid(), signal_number)
        time.sleep(5)
    except KeyboardInterrupt:
        pass


class RaisesInDel:
    """Receives the signal in its __del__, where Python drops what is raised."""

    def __init__(self, signal_number: int):
        self.signal_number = signal_number

    def __del__(self):
        os.kill(os.getpid(), self.signal_number)
        time.sleep(0.5)


def waits(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return 'finished'


def repeating() -> bool:
    return any(thread.name == 'interrupt-repeat' for thread in threading.enumerate())


@pytest.mark.parametrize('signal_number', [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_dropped_within_the_call_is_raised_again(signal_number):
    def work():
        dropped(signal_number)
        return waits(50 * REPEAT_SECONDS)

    with interrupts.raised_as_exceptions() as catcher:
        started = time.monotonic()
        with pytest.raises(interrupts.Interrupted) as raised:
            catcher.call(work)
        stopped = time.monotonic() - started
    assert raised.value.signal_number == signal_number
    assert catcher.received.signal_number == signal_number
    assert stopped < 10 * REPEAT_SECONDS


def test_an_interrupt_in_a_del_within_the_call_is_raised_again_and_not_printed(unraisable):
    def work():
        RaisesInDel(signal.SIGINT)  # deleted at once
        return waits(50 * REPEAT_SECONDS)

    with interrupts.raised_as_exceptions() as catcher:
        with pytest.raises(interrupts.Interrupted):
            catcher.call(work)
    assert unraisable == []
    assert catcher.received.signal_number == signal.SIGINT


class FailsOnTheInterrupt:
    """Receives the signal in its __del__ and raises another error while it handles it:
    from the interrupt, as Python raises a SystemError when an interrupt lands in an import
    that TensorFlow's C++ made, or an error of its own, as a cleanup that failed."""

    def __init__(self, from_interrupt: bool):
        self.from_interrupt = from_interrupt

    def __del__(self):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        except KeyboardInterrupt as interrupt:
            if self.from_interrupt:
                raise SystemError('<built-in function __import__> returned a result with an '
                                  'exception set') from interrupt
            raise ValueError('a cleanup that failed')


@pytest.mark.parametrize('from_interrupt, printed', [(True, []), (False, [ValueError])])
def test_an_error_dropped_on_the_interrupt_is_printed_unless_raised_from_it(
        from_interrupt, printed, unraisable):
    def work():
        FailsOnTheInterrupt(from_interrupt)  # deleted at once
        return waits(50 * REPEAT_SECONDS)

    with interrupts.raised_as_exceptions() as catcher:
        with pytest.raises(interrupts.Interrupted):
            catcher.call(work)
    assert [type(error) for error in unraisable] == printed


def test_an_error_raised_from_itself_is_printed_not_followed_for_ever(unraisable):
    class FailsFromItself:
        def __del__(self):
            error = ValueError('its own cause')
            error.__cause__ = error
            raise error

    def work():
        dropped(signal.SIGINT)
        FailsFromItself()  # deleted at once, after the signal
        return waits(50 * REPEAT_SECONDS)

    with interrupts.raised_as_exceptions() as catcher:
        with pytest.raises(interrupts.Interrupted):
            catcher.call(work)
    assert [type(error) for error in unraisable] == [ValueError]


def test_an_error_raised_from_a_keyboard_interrupt_before_any_signal_is_printed(unraisable):
    class FailsFromAKeyboardInterrupt:
        def __del__(self):
            try:
                raise KeyboardInterrupt  # raised by code, not by a signal to the run
            except KeyboardInterrupt as interrupt:
                raise SystemError('not an interrupt of the run') from interrupt

    def work():
        FailsFromAKeyboardInterrupt()  # deleted at once
        return 'finished'

    with interrupts.raised_as_exceptions() as catcher:
        assert catcher.call(work) == 'finished'
    assert [type(error) for error in unraisable] == [SystemError]


def test_what_is_dropped_in_a_del_is_still_reported_if_it_is_not_raised_again(unraisable):
    class Fails:
        def __del__(self):
            raise ValueError('not an interrupt')

    def work():
        Fails()  # deleted at once, within the call
        return 'finished'

    with interrupts.raised_as_exceptions() as catcher:
        assert catcher.call(work) == 'finished'
        # Outside the call an interrupt is not raised again: losing it is worth a report.
        RaisesInDel(signal.SIGINT)
        assert waits(5 * REPEAT_SECONDS) == 'finished'
    assert [type(error) for error in unraisable] == [ValueError, interrupts.Interrupted]


def test_repeats_end_with_the_call_and_leave_what_follows_alone():
    before = signal.getsignal(signal.SIGINT)
    with interrupts.raised_as_exceptions() as catcher:
        with pytest.raises(interrupts.Interrupted):
            catcher.call(lambda: (os.kill(os.getpid(), signal.SIGINT), waits(5)))
        # What the run does after the call (recording the interrupt, the report) goes on.
        assert waits(5 * REPEAT_SECONDS) == 'finished'
        assert not repeating()
        # A second Ctrl-C there still interrupts it.
        with pytest.raises(interrupts.Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            waits(5)
    assert signal.getsignal(signal.SIGINT) is before
    # A repeat that would still arrive is ignored, not the end of the process.
    assert signal.getsignal(interrupts.REPEAT_SIGNAL) == signal.SIG_IGN
    os.kill(os.getpid(), interrupts.REPEAT_SIGNAL)
    assert waits(2 * REPEAT_SECONDS) == 'finished'


def test_an_interrupt_on_its_way_out_of_the_call_is_not_raised_again():
    cleaned_up = []

    def cleanup():
        raise RuntimeError('a cleanup that fails: the interrupt is its context')

    def work():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            waits(5)
        finally:  # slow cleanups, which see the interrupt as being handled
            cleaned_up.append(waits(5 * REPEAT_SECONDS))
            try:
                cleanup()
            except RuntimeError:
                cleaned_up.append(waits(5 * REPEAT_SECONDS))

    with interrupts.raised_as_exceptions() as catcher:
        with pytest.raises(interrupts.Interrupted):
            catcher.call(work)
    assert cleaned_up == ['finished', 'finished']
