"""Live progress of a local run: a line when each component starts and when it ends.

It polls MLMD from a background thread rather than parsing TFX's log lines: the record
is what the runner itself trusts, and it says whether a result came from the cache.
"""
import os
import sys
import threading

from ml_metadata import errors

from runs import record


class ComponentProgress:
    """Context manager: prints `component  state  seconds` lines while a run goes on."""

    def __init__(self, metadata_path: str, stream=None, interval_seconds: float = 0.5):
        self._metadata_path = metadata_path
        self._stream = stream or sys.stdout
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._printed = {}  # component id -> last state printed
        self.record = None

    def __enter__(self):
        since = 0
        if os.path.exists(self._metadata_path):
            since = record.last_execution_id(record.connect(self._metadata_path))
        self.since_execution_id = since  # this run's executions are the newer ones
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self._poll()  # whatever finished after the last tick

    def _watch(self):
        while not self._stop.wait(self._interval):
            self._poll()

    def _poll(self):
        if self.record is None:
            if not os.path.exists(self._metadata_path):
                return
            self.record = record.RunRecord(record.connect(self._metadata_path),
                                            self.since_execution_id)
        try:
            executions = self.record.executions()
        except errors.StatusError:
            return  # the runner holds a write lock; read on the next tick
        for node_id, execution in executions.items():
            state = record.state(execution)
            if self._printed.get(node_id) == state:
                continue
            self._printed[node_id] = state
            timing = '' if state == record.RUNNING else f'{record.seconds(execution):7.1f} s'
            print(f'  {node_id:<32} {state:<8} {timing}', file=self._stream, flush=True)
