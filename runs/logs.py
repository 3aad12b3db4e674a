"""What a local run prints besides its own lines: TFX's INFO logs off, and no traceback for
an error in the data, whose message already says everything."""
import contextlib
import logging

from components.anomaly_gate import DataAnomaliesError
from components.movielens.errors import BadInputError

# Errors in the user's data: their message names the file, the line, the value and the fix.
DATA_ERRORS = (BadInputError, DataAnomaliesError)


class _DataErrorTracebacks(logging.Filter):
    """Drops Beam's log of a data error's traceback: the run's last line states the error,
    and a traceback would only bury it. Tracebacks of anything else are kept."""

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, DATA_ERRORS)


def _unused_query_feature(record) -> bool:
    # TFX's resolver says this on every component; it is about an unused query feature.
    return 'property_predicate' not in str(record.msg)


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
    absl_logger.addFilter(_unused_query_feature)
    beam_logger.addFilter(data_errors)
    try:
        yield
    finally:
        beam_logger.removeFilter(data_errors)
        absl_logger.removeFilter(_unused_query_feature)
        absl_logger.setLevel(level)
