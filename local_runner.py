"""Runs the whole pipeline on this machine: LocalDagRunner, Beam FnApiRunner, MLMD in SQLite.

    python local_runner.py --data-dir path/to/ml-100k --output-dir output

Everything a run writes goes under --output-dir: the pipeline root, metadata.sqlite, the
served model (serving_model/<version>/) and run_summary.json. A run holds the lock
<output-dir>/.lock throughout, so a second run into the same dir refuses to start.

Exit codes: 0 when the run completed, blessed or not; 1 when the data or a component
failed, with the reason on stderr; 75 when another run holds the output dir.
"""
import os

# TFX, TFT, TFMA and TFRS need Keras 2; this must precede any TensorFlow import.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import fcntl  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import pathlib  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from pipeline import configs, flags  # noqa: E402

# Beam workers install the project from it. Naming it also stops TFX from packaging its own
# sources for Beam before every component, which costs a second each time.
SETUP_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'setup.py')

LOCK_FILE = '.lock'
EXIT_FAILED = 1
# sysexits' EX_TEMPFAIL: nothing is wrong, try again later.
EXIT_BUSY = 75


class OutputDirBusy(Exception):
    """Another run holds the output dir; the message names the lock file and that run."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-dir', default=configs.DEFAULT_DATA_DIR,
                        help='GroupLens folder or .zip (ml-100k or ml-1m format), or a TFDS '
                             f'data dir with --source tfds. Default: ${configs.DATA_DIR_ENV}; '
                             'without either, ml-100k is downloaded from GroupLens.')
    flags.add_training_flags(parser, sources=('grouplens', 'tfds', 'synthetic'))
    parser.add_argument('--synthetic-ratings', type=int, default=configs.DEFAULT_SYNTHETIC_RATINGS,
                        help='Number of ratings with --source synthetic.')
    parser.add_argument('--output-dir', default=configs.DEFAULT_OUTPUT_DIR)
    parser.add_argument('--beam-arg', action='append', default=[], dest='beam_args',
                        help='Extra Beam pipeline argument, repeatable, e.g. '
                             '--beam-arg=--direct_running_mode=multi_processing')
    parser.add_argument('--no-cache', action='store_true',
                        help='Run every component even if its inputs are unchanged.')
    parser.add_argument('--verbose', action='store_true', help="Show TFX's INFO logs.")
    return parser.parse_args(argv)


def resolve_data_path(args) -> str:
    """The data the ExampleGen reads: a given path, synthetic files, or the download cache."""
    if args.source == 'synthetic':
        from components.movielens import synthetic
        directory = os.path.join(args.output_dir, 'synthetic-data',
                                 f'{args.synthetic_ratings}-ratings-seed{args.seed}')
        synthetic.write_grouplens(directory, args.synthetic_ratings, seed=args.seed)
        return directory
    if args.data_dir:
        # A URI (gs://...) is read through tf.io.gfile; only local paths are made absolute.
        return args.data_dir if '://' in args.data_dir else os.path.abspath(args.data_dir)
    if args.source == 'tfds':
        raise SystemExit('error: --source tfds needs --data-dir, the TFDS data dir holding '
                         f'{args.tfds_name} (this pipeline never downloads TFDS data at run time).')
    from components.movielens import download
    return download.fetch_grouplens(os.path.join(args.output_dir, 'downloads'))


@contextlib.contextmanager
def exclusive_run(output_dir: str):
    """Holds <output_dir>/.lock while the block runs; raises OutputDirBusy at once if
    another process holds it.

    An flock, not a pid file: the kernel releases it when its process ends, however it
    ends, so a killed run never leaves a stale lock. The file names the holder, for the
    message of the run that is refused.
    """
    path = os.path.join(output_dir, LOCK_FILE)
    # Not opened with truncation: that would wipe the holder's details before we know
    # whether there is a holder.
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputDirBusy(f'{output_dir} is in use by another run: {path} is held by '
                                f'{_lock_holder(descriptor)}. Wait for that run to end, or '
                                'pass another --output-dir.') from None
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


def _lock_holder(descriptor: int) -> str:
    """The process that holds the lock, as it described itself in the lock file."""
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0))
        return (f'process {holder["pid"]} on {holder["host"]} ({holder["command"]}), '
                f'running since {holder["started"]}')
    except (ValueError, KeyError, TypeError):
        # The holder took the lock a moment ago and has not written its details yet.
        return 'a process that is just starting'


class _DataErrorTracebacks(logging.Filter):
    """Drops Beam's log of a data error's traceback: the run's last line states the error,
    and a traceback would only bury it. Tracebacks of anything else are kept."""

    def __init__(self, data_errors):
        super().__init__()
        self._data_errors = data_errors

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, self._data_errors)


def _unused_query_feature(record) -> bool:
    # TFX's resolver says this on every component; it is about an unused query feature.
    return 'property_predicate' not in str(record.msg)


@contextlib.contextmanager
def _quiet_logs(verbose: bool):
    """TFX's INFO logs and the tracebacks of data errors off, unless --verbose; restored
    afterwards, so that runs in one process (the tests) do not pile up filters."""
    if verbose:
        yield
        return
    from components.anomaly_gate import DataAnomaliesError
    from components.movielens import BadInputError

    absl_logger = logging.getLogger('absl')
    beam_logger = logging.getLogger('apache_beam.runners.common')
    data_errors = _DataErrorTracebacks((BadInputError, DataAnomaliesError))
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


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector off while TensorFlow, TFX, TFMA and Beam are imported.

    The imports allocate millions of long-lived objects and almost no garbage: the
    collections their allocations trigger free a few hundred objects and cost seconds.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_run_modules():
    """Imports what a run needs; most of a run's fixed cost is here."""
    # Google client libraries warn about Python 3.10 on import; TFX 1.16 requires it.
    warnings.filterwarnings('ignore', category=FutureWarning)
    with _collector_paused():
        from tfx.orchestration.local import local_dag_runner  # noqa: F401
        from pipeline import pipeline, report, run_summary  # noqa: F401


def main(argv=None, own_process: bool = False) -> int:
    """Runs the pipeline; returns the exit code. `own_process`: this process exists for
    this run alone (the command line), not for several (the tests)."""
    args = parse_args(argv)
    args.output_dir = os.path.abspath(args.output_dir)
    os.makedirs(args.output_dir, exist_ok=True)
    try:
        with exclusive_run(args.output_dir):
            return _run(args, own_process)
    except OutputDirBusy as busy:
        print(f'error: {busy}', file=sys.stderr)
        return EXIT_BUSY


def _run(args, own_process: bool = False) -> int:
    import_run_modules()
    if own_process:
        # What the imports built lives until the exit: frozen, the collector no longer
        # scans it in each full collection of the run. (Not in a process that runs again:
        # it would keep the garbage of the runs before for good.)
        gc.freeze()
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components.movielens import BadInputError
    from pipeline import pipeline as pipeline_module
    from pipeline import run_record
    from pipeline import run_summary
    from pipeline.progress import ComponentProgress

    started = time.monotonic()
    metadata_path = os.path.join(args.output_dir, 'metadata.sqlite')
    try:
        data_path = resolve_data_path(args)
        # MovieLensExampleGen checks local data already here, before anything runs.
        pipeline = pipeline_module.create_pipeline(
            pipeline_root=os.path.join(args.output_dir, 'pipeline_root'),
            data_path=data_path,
            serving_model_dir=os.path.join(args.output_dir, 'serving_model'),
            metadata_connection_config=(
                metadata.sqlite_metadata_connection_config(metadata_path)),
            beam_pipeline_args=[*configs.BEAM_PIPELINE_ARGS, f'--setup_file={SETUP_FILE}',
                                *args.beam_args],
            enable_cache=not args.no_cache,
            **flags.training_settings(args))
    except BadInputError as error:
        print(f'The run did not start: {error}', file=sys.stderr)
        return EXIT_FAILED

    print(f'Running {configs.PIPELINE_NAME} on {data_path} -> {args.output_dir}', flush=True)
    failure = None
    with _quiet_logs(args.verbose), ComponentProgress(metadata_path) as progress:
        try:
            LocalDagRunner().run(pipeline)
        except Exception as error:  # noqa: BLE001 -- reported below, with a non-zero exit
            failure = error
    if failure is not None:
        executions = progress.record.executions() if progress.record else {}
        failed = [node_id for node_id, execution in executions.items()
                  if execution.last_known_state == run_record.Execution.FAILED]
        where = f' in {", ".join(failed)}' if failed else ''
        print(f'\nThe run failed{where}: {failure}', file=sys.stderr)
        if run_record.PUSHER not in failed:
            print('No model was pushed; the served versions are unchanged.', file=sys.stderr)
        _write_report(args.output_dir, failure_message=str(failure))
        return EXIT_FAILED

    summary = run_summary.build(progress.record, configs.PIPELINE_NAME, args.source, data_path,
                                time.monotonic() - started)
    path = run_summary.write(summary, args.output_dir)
    print(json.dumps(summary, indent=2))
    print(f'Summary written to {path}')
    if summary['data']['skipped_rows']:
        print(f"Skipped {summary['data']['skipped_rows']} bad rating rows (--skip-bad-rows).")
    from_cache = summary['components'].get(run_record.EVALUATOR, {}).get('cached')
    if summary['gate']:
        earlier = ' (an earlier run\'s verdict on the same model and data)' if from_cache else ''
        print(f"Model gate: {summary['gate']['reason']}{earlier}.")
    if summary['pushed_model_dir']:
        if summary['components'].get(run_record.PUSHER, {}).get('cached'):
            print(f"Nothing new to push: {summary['pushed_model_dir']} was pushed by an "
                  'earlier run from the same model.')
        else:
            print(f"Pushed to {summary['pushed_model_dir']}")
    _write_report(args.output_dir)
    return 0


def _write_report(output_dir, failure_message=None):
    """<output-dir>/report/index.html; see pipeline/report.py."""
    from pipeline import report
    try:
        result = report.build_report(output_dir, failure_message)
    except report.NoRunError:
        return  # nothing was recorded in MLMD: nothing to report
    reused = f', {len(result.reused)} parts reused' if result.reused else ''
    print(f'Report: {pathlib.Path(result.path).as_uri()} ({result.seconds:.1f} s{reused})')
    for problem in result.problems:
        print(f'warning: part of the report could not be built: {problem}', file=sys.stderr)


if __name__ == '__main__':
    exit_code = main(own_process=True)
    # At the exit Python would run the collector over the whole heap, TensorFlow's and
    # TFX's included: seconds for nothing, since the process ends anyway.
    gc.freeze()
    sys.exit(exit_code)
