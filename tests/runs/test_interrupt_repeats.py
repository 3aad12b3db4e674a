"""An interrupt that is lost (TensorFlow's C++ clears an error raised in a Python callback;
Python drops one raised in a __del__) is raised again within Catcher.call, and only there.

Real signals, sent to this process; pytest runs tests in the main thread, where Python runs
signal handlers.
"""
import os
import signal
import sys
import time

import pytest

from runs import interrupts


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


@pytest.mark.parametrize('signal_number', [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_dropped_within_the_call_is_raised_again(signal_number):
    def work():
        dropped(signal_number)
        return waits(10 * interrupts.REPEAT_SECONDS)

    with interrupts.raised_as_exceptions() as catcher:
        started = time.monotonic()
        with pytest.raises(interrupts.Interrupted) as raised:
            catcher.call(work)
        stopped = time.monotonic() - started
    assert raised.value.signal_number == signal_number
    assert catcher.received.signal_number == signal_number
    assert stopped < 3 * interrupts.REPEAT_SECONDS


@pytest.fixture
def unraisable(monkeypatch) -> list:
    """What reaches the hook before ours (Python's prints it on stderr)."""
    reports = []
    monkeypatch.setattr(sys, 'unraisablehook', lambda report: reports.append(report.exc_value))
    return reports


def test_an_interrupt_in_a_del_within_the_call_is_raised_again_and_not_printed(unraisable):
    def work():
        RaisesInDel(signal.SIGINT)  # deleted at once
        return waits(10 * interrupts.REPEAT_SECONDS)

    with interrupts.raised_as_exceptions() as catcher:
        with pytest.raises(interrupts.Interrupted):
            catcher.call(work)
    assert unraisable == []
    assert catcher.received.signal_number == signal.SIGINT


def test_an_interrupt_is_not_raised_again_once_the_call_has_stopped():
    with interrupts.raised_as_exceptions() as catcher:
        with pytest.raises(interrupts.Interrupted):
            catcher.call(lambda: (os.kill(os.getpid(), signal.SIGINT), waits(5)))
        # What the run does after the call (recording the interrupt, the report) goes on.
        assert waits(3 * interrupts.REPEAT_SECONDS) == 'finished'
        # A second Ctrl-C there still interrupts it.
        with pytest.raises(interrupts.Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            waits(5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # And once the handlers are restored, nothing more comes.
    assert waits(3 * interrupts.REPEAT_SECONDS) == 'finished'


def test_an_interrupt_on_its_way_out_of_the_call_is_not_raised_again():
    cleaned_up = []

    def work():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            waits(5)
        finally:  # a slow cleanup, which sees the interrupt as being handled
            cleaned_up.append(waits(2.5 * interrupts.REPEAT_SECONDS))

    with interrupts.raised_as_exceptions() as catcher:
        with pytest.raises(interrupts.Interrupted):
            catcher.call(work)
    assert cleaned_up == ['finished']


def test_an_error_dropped_in_a_del_is_still_reported(unraisable):
    class Fails:
        def __del__(self):
            raise ValueError('not an interrupt')

    with interrupts.raised_as_exceptions() as catcher:
        catcher.call(Fails)
    assert [str(error) for error in unraisable] == ['not an interrupt']
