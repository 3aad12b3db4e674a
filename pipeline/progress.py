"""Live progress of a LocalDagRunner run: one line per component, with seconds and caching.

LocalDagRunner reports progress only through its INFO log lines; this handler turns the
three that matter (running, cached, finished) into a compact report and timings.
"""
import logging
import sys
import time


class ComponentProgress(logging.Handler):
    """Watches TFX's log records and prints `component  cached|ran  seconds` lines."""

    def __init__(self, stream=sys.stdout):
        super().__init__(level=logging.INFO)
        self.stream = stream
        self.components = {}  # component id -> {'seconds': float, 'cached': bool}
        self._started = {}
        self._current = None

    def emit(self, record):
        message = record.msg if isinstance(record.msg, str) else ''
        if message == 'Component %s is running.':
            self._current = record.args[0]
            self._started[self._current] = time.monotonic()
            self.components[self._current] = {'seconds': 0.0, 'cached': False}
            print(f'  {self._current:<32} running ...', file=self.stream, flush=True)
        elif message == 'A cached execution %d is used.' and self._current:
            self.components[self._current]['cached'] = True
        elif message == 'Component %s is finished.':
            name = record.args[0]
            seconds = round(time.monotonic() - self._started.get(name, time.monotonic()), 2)
            self.components[name]['seconds'] = seconds
            state = 'cached' if self.components[name]['cached'] else 'done'
            print(f'  {name:<32} {state:<7} {seconds:7.1f} s', file=self.stream, flush=True)
            self._current = None

    def __enter__(self):
        absl_logger = logging.getLogger('absl')
        self._previous_level = absl_logger.level
        absl_logger.setLevel(logging.INFO)
        absl_logger.addHandler(self)
        return self

    def __exit__(self, *exc_info):
        absl_logger = logging.getLogger('absl')
        absl_logger.removeHandler(self)
        absl_logger.setLevel(self._previous_level)
