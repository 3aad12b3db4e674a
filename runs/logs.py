"""What a local run prints besides its own lines: TFX's INFO logs off, and no traceback for
an error in the data or a full disk, whose one line already says everything."""
import contextlib
import logging

from components.anomaly_gate import DataAnomaliesError
from components.movielens.errors import BadInputError
from runs import disk_full

# Errors in the user's data: their message names the file, the line, the value and the fix.
DATA_ERRORS = (BadInputError, DataAnomaliesError)


class _DataErrorTracebacks(logging.Filter):
    """Drops Beam's log of the traceback of a data error or a full disk: the run's last
    line states the error, and a traceback would only bury it. Tracebacks of anything else
    are kept."""

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, DATA_ERRORS)
                    or (error is not None and disk_full.is_disk_full(error)))


# TFX's resolver says the first on every component, about an unused query feature; on a
# full disk, TFX logs the SQL statement that MLMD could not run, which the run's line explains.
_NOISE = ('property_predicate', disk_full.SQLITE_FULL)


def _not_noise(record) -> bool:
    message = record.getMessage()
    return not any(text in message for text in _NOISE)


@contextlib.contextmanager
def quiet(verbose: bool):
    """TFX's INFO logs and the tracebacks of data errors off, unless verbose; restored
    afterwards, so that runs in one process (the tests) do not pile up filters."""
    if verbose:
        yield
        return
    absl_logger = logging.getLogger('absl')
    beam_logger = logging.getLogger('apache_beam.runners.common')
    data_errors = _DataErrorTracebacks()
    level = absl_logger.level
    absl_logger.setLevel(logging.WARNING)
    absl_logger.addFilter(_not_noise)
    beam_logger.addFilter(data_errors)
    try:
        yield
    finally:
        beam_logger.removeFilter(data_errors)
        absl_logger.removeFilter(_not_noise)
        absl_logger.setLevel(level)
