"""One local run of the pipeline, start to finish: data, LocalDagRunner, summary, report.

local_runner.py parses the command line and calls run(); everything a run writes goes under
its output dir (runs/output_dir.py).
"""
import argparse
import dataclasses
import gc
import json
import os
import pathlib
import sys
import time
import traceback
import warnings
from typing import Dict, List, Optional, Tuple

from components.movielens import contract
from components.movielens.errors import BadInputError
from pipeline import configs, flags
from runs import disk_full, interrupts, lock, store, up_to_date
from runs import output_dir as output_dir_module
from runs.output_dir import OutputDir

EXIT_OK = 0
EXIT_FAILED = 1
# sysexits' EX_TEMPFAIL: nothing is wrong, try again later.
EXIT_BUSY = 75

# Beam workers install the project from it. Naming it also stops TFX from packaging its own
# sources for Beam before every component, which costs a second each time.
SETUP_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'setup.py')


@dataclasses.dataclass(frozen=True)
class Data:
    """What the ExampleGen will read, and where it came from."""
    source: str  # as the user named it: grouplens, tfds or synthetic
    path: str


def resolve_data(args: argparse.Namespace, output_dir: OutputDir) -> Data:
    """The data the ExampleGen reads: a given path, synthetic files, or the download cache."""
    if args.source == flags.SYNTHETIC:
        from datasets import synthetic
        directory = output_dir.synthetic_data(args.synthetic_format, args.synthetic_ratings,
                                              args.seed)
        synthetic.write_grouplens(directory, args.synthetic_ratings, seed=args.seed,
                                  data_format=args.synthetic_format)
        return Data(args.source, directory)
    if args.data_dir:
        from components import filesystem
        # A URI (gs://...) is read through tf.io.gfile; only local paths are made absolute.
        path = args.data_dir if filesystem.is_uri(args.data_dir) else os.path.abspath(
            args.data_dir)
        return Data(args.source, path)
    if args.source == contract.TFDS:
        raise BadInputError(f'--source tfds needs --data-dir, the TFDS data dir holding '
                            f'{args.tfds_name} (this pipeline never downloads TFDS data at '
                            'run time).')
    from datasets import download
    return Data(args.source, download.fetch_grouplens(output_dir.downloads))


def import_run_modules():
    """Imports what a run needs, with the cycle collector off: most of a run's fixed cost.

    The imports allocate millions of long-lived objects and almost no garbage: the
    collections their allocations trigger free a few hundred objects and cost seconds.
    """
    # Google client libraries warn about Python 3.10 on import; TFX 1.16 requires it.
    warnings.filterwarnings('ignore', category=FutureWarning)
    enabled = gc.isenabled()
    gc.disable()
    try:
        from tfx.orchestration.local import local_dag_runner  # noqa: F401
        from pipeline import pipeline  # noqa: F401
        from reporting import report  # noqa: F401
        from runs import summary  # noqa: F401
    finally:
        if enabled:
            gc.enable()


def run(args: argparse.Namespace, own_process: bool = False) -> int:
    """Runs the pipeline as the parsed command line says; returns the exit code.

    own_process: this process exists for this run alone (the command line), not for
    several (the tests).
    """
    program_read = up_to_date.program()
    try:
        output_dir = output_dir_module.prepare(args.output_dir)
        # Before the imports: a damaged store is reported in a moment.
        store.check(output_dir.metadata)
    except (output_dir_module.OutputDirError, store.DamagedStoreError) as error:
        print(f'error: {error}', file=sys.stderr)
        return EXIT_FAILED
    with interrupts.raised_as_exceptions() as catcher:
        try:
            with lock.exclusive_run(output_dir.lock):
                last_run = up_to_date.last_run(args, output_dir, program_read)
                if last_run is not None:
                    return _nothing_changed(output_dir, last_run)
                up_to_date.forget(output_dir)
                return _run(args, output_dir, own_process, catcher, program_read)
        except lock.OutputDirBusy as busy:
            print(f'error: {busy}', file=sys.stderr)
            return EXIT_BUSY
        except interrupts.Interrupted as interrupted:
            # Outside the pipeline, whose interrupts _run reports: while the run started,
            # or when a second signal came while it noted what the first one stopped.
            print(f'\nThe run was interrupted ({interrupted.name}). The same command runs '
                  'it again and resumes from the cache.', file=sys.stderr)
            return interrupted.exit_code
        except OSError as error:
            if not disk_full.is_disk_full(error):
                raise
            print(f'\n{disk_full.message(output_dir, error, None)}', file=sys.stderr)
            return EXIT_FAILED


def _run(args: argparse.Namespace, output_dir: OutputDir, own_process: bool,
         catcher: interrupts.Catcher, program_read: Dict) -> int:
    import_run_modules()
    if own_process:
        # What the imports built lives until the exit: frozen, the collector no longer
        # scans it in each full collection of the run. (Not in a process that runs again:
        # it would keep the garbage of the runs before for good.)
        gc.freeze()
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components import serving_layout
    from components.baseline_resolver import LatestBlessedOtherModelStrategy
    from pipeline import pipeline as pipeline_module
    from runs import logs, summary
    from runs.progress import ComponentProgress

    started = time.monotonic()
    try:
        data = resolve_data(args, output_dir)
        # MovieLensExampleGen checks local data already here, before anything runs.
        pipeline = pipeline_module.create_pipeline(
            pipeline_root=output_dir.pipeline_root,
            data_path=data.path,
            serving_model_dir=output_dir.serving_model,
            # An unchanged rerun then meets the same baseline and is served from the cache.
            baseline_strategy=LatestBlessedOtherModelStrategy,
            metadata_connection_config=metadata.sqlite_metadata_connection_config(
                output_dir.metadata),
            beam_pipeline_args=[*configs.BEAM_PIPELINE_ARGS, f'--setup_file={SETUP_FILE}',
                                *args.beam_args],
            enable_cache=not args.no_cache,
            **flags.pipeline_arguments(args))
    except BadInputError as error:
        print(f'The run did not start: {error}', file=sys.stderr)
        return EXIT_FAILED
    try:
        data_read = up_to_date.data(args, output_dir)
    except OSError:  # unreadable: this run records no key, and the next one runs
        data_read = None

    print(f'Running {configs.PIPELINE_NAME} on {data.path} -> {output_dir.path}', flush=True)
    served_before = serving_layout.versions(output_dir.serving_model)
    failure = interrupted = None
    with logs.quiet(args.verbose), ComponentProgress(output_dir.metadata) as progress:
        try:
            catcher.call(LocalDagRunner().run, pipeline)
        except interrupts.Interrupted as error:
            interrupted = error
        except Exception as error:  # noqa: BLE001 -- reported below, with a non-zero exit
            failure = error
        # TensorFlow and Beam may turn an interrupt raised inside their code into an error
        # of their own, which TFX then records as a failure.
        interrupted = interrupted or catcher.received
        if interrupted:
            # Before the progress's last line, which then says `interrupted`.
            stopped, last_ended = _record_interrupt(output_dir, progress.since_execution_id)
    if interrupted:
        return _interrupted(output_dir, interrupted, stopped, last_ended)
    if failure is not None:
        message = _print_failure(output_dir, failure, progress.record)
        pushed = set(serving_layout.versions(output_dir.serving_model)) - set(served_before)
        if pushed:
            print(f'Version {max(pushed)} was pushed to {output_dir.serving_model} before the '
                  'run stopped.', file=sys.stderr)
        else:
            print('No model was pushed; the served versions are unchanged.', file=sys.stderr)
        write_report(output_dir, failure_message=message)
        return EXIT_FAILED

    run_summary = summary.build(progress.record, configs.PIPELINE_NAME, data.source, data.path,
                                time.monotonic() - started)
    summary.write(run_summary, output_dir.summary)
    print(json.dumps(run_summary, indent=2))
    print(f'Summary written to {output_dir.summary}')
    print_verdict(run_summary)
    report = write_report(output_dir, run_summary=run_summary)
    if report.interrupted:
        return report.interrupted.exit_code
    if not report.complete:  # the same command then goes through TFX and writes it again
        return EXIT_OK
    try:
        up_to_date.record(args, output_dir, program_read, data_read)
    except OSError as error:  # the next run then goes through TFX's cache
        print(f'warning: {output_dir.up_to_date} was not written ({error.strerror or error})',
              file=sys.stderr)
    return EXIT_OK


def _nothing_changed(output_dir: OutputDir, last_run: Dict) -> int:
    """What a rerun with nothing changed prints: the last run's verdict."""
    ended = last_run.pop('ended', None)
    when = (f" that ended {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ended))}"
            if isinstance(ended, (int, float)) else '')
    print(f'Up to date: nothing ran. The data, the code, the settings and {output_dir.path} '
          f'are as the run{when} left them (--no-cache runs every component again).')
    print(f'Its summary: {output_dir.summary}')
    print_verdict(last_run, earlier=True)
    if os.path.exists(output_dir.report_page):
        print(f'Report: {pathlib.Path(output_dir.report_page).as_uri()}')
    return EXIT_OK


def _print_failure(output_dir: OutputDir, failure: Exception, run_record) -> str:
    """Prints the failure on stderr: the component and the error, or the full disk; returns
    what the report shows of it."""
    from runs import logs, record

    if disk_full.is_disk_full(failure):
        # A component whose failure TFX could not record (MLMD was full too) stays RUNNING.
        stopped = [node_id for node_id, execution in run_record.executions().items()
                   if record.state(execution) in (record.FAILED, record.RUNNING)
                   ] if run_record else []
        line = disk_full.message(output_dir, failure, stopped[-1] if stopped else None)
        print(f'\n{line}', file=sys.stderr)
        return line
    if not isinstance(failure, logs.DATA_ERRORS):
        # Not the data: a bug or a broken environment, whose traceback is the clue.
        traceback.print_exception(failure)
    failed = run_record.failed() if run_record else []
    where = f' in {", ".join(failed)}' if failed else ''
    print(f'\nThe run failed{where}: {failure}', file=sys.stderr)
    return str(failure)


def _record_interrupt(output_dir: OutputDir, since_execution_id: int) -> Tuple[List[str],
                                                                              Optional[str]]:
    """Marks this run's executions that the interrupt stopped as CANCELED in MLMD, which
    TFX leaves RUNNING (or FAILED, when the interrupt came wrapped in an error).

    Returns:
      Their components, and the last component of the run that had ended.
    """
    from ml_metadata import errors as mlmd_errors

    from runs import record

    if not os.path.exists(output_dir.metadata):
        return [], None
    executions = record.RunRecord(record.connect(output_dir.metadata),
                                  since_execution_id).executions()
    stopped = {node_id: execution.id for node_id, execution in executions.items()
               if record.state(execution) in (record.RUNNING, record.FAILED)}
    try:
        store.cancel(output_dir.metadata, stopped.values())
    except mlmd_errors.StatusError as error:
        # They then stay RUNNING, as after a SIGKILL, which no reader mistakes for this run.
        print(f'warning: {output_dir.metadata} could not record the interrupt: {error}',
              file=sys.stderr)
    ended = [node_id for node_id in executions if node_id not in stopped]
    return list(stopped), ended[-1] if ended else None


def _interrupted(output_dir: OutputDir, interrupted: interrupts.Interrupted,
                 stopped: List[str], last_ended: Optional[str]) -> int:
    """The interrupt's one line, and the report of the run so far; returns the exit code."""
    if stopped:
        where = f'in {", ".join(stopped)}'
    elif last_ended:
        where = f'after {last_ended}, before the next component started'
    else:
        where = 'before any component ran'
    line = f'The run was interrupted ({interrupted.name}) {where}.'
    print(f'\n{line} The same command resumes it from the cache.', file=sys.stderr,
          flush=True)
    return (write_report(output_dir, failure_message=line).interrupted or interrupted).exit_code


def print_verdict(run_summary: Dict, earlier: bool = False) -> None:
    """The run's last lines: skipped rows, the gate's reason, and what was pushed.

    earlier: the summary is an earlier run's, whose verdict and push this run repeats.
    """
    components = run_summary['components']
    if earlier:
        evaluator_cached = pusher_cached = True
    else:
        from runs import record  # TFX's: not imported by a rerun that runs nothing
        evaluator_cached = components.get(record.EVALUATOR, {}).get('cached')
        pusher_cached = components.get(record.PUSHER, {}).get('cached')
    if run_summary['data']['skipped_rows']:
        print(f"Skipped {run_summary['data']['skipped_rows']} bad rating rows "
              '(--skip-bad-rows).')
    if run_summary['gate']:
        repeated = " (an earlier run's verdict on the same model and data)"
        print(f"Model gate: {run_summary['gate']['reason']}{repeated if evaluator_cached else ''}.")
    if run_summary['pushed_model_dir']:
        if pusher_cached:
            print(f"Nothing new to push: {run_summary['pushed_model_dir']} was pushed by an "
                  'earlier run from the same model.')
        else:
            print(f"Pushed to {run_summary['pushed_model_dir']}")


@dataclasses.dataclass(frozen=True)
class ReportOutcome:
    complete: bool  # every part of the page was written
    interrupted: Optional[interrupts.Interrupted] = None  # the interrupt that stopped it


def write_report(output_dir: OutputDir, run_summary: Optional[Dict] = None,
                 failure_message: Optional[str] = None) -> ReportOutcome:
    """<output-dir>/report/index.html; see reporting/. The run's outcome is said before it,
    so a report that cannot be written (a full disk, an interrupt) costs one line."""
    from reporting import report
    from runs.record import NoRunError
    later = f'python report.py --output-dir {output_dir.path} writes it later.'
    try:
        result = report.build_report(output_dir.path, failure_message=failure_message,
                                     run_summary=run_summary)
    except NoRunError:
        return ReportOutcome(complete=False)  # nothing was recorded in MLMD: nothing to report
    except OSError as error:
        print(f'The report was not written to {output_dir.report} '
              f'({error.strerror or error}); {later}', file=sys.stderr)
        return ReportOutcome(complete=False)
    except interrupts.Interrupted as interrupted:
        print(f'The report was not written (interrupted, {interrupted.name}); {later}',
              file=sys.stderr)
        return ReportOutcome(complete=False, interrupted=interrupted)
    reused = f', {len(result.reused)} parts reused' if result.reused else ''
    print(f'Report: {pathlib.Path(result.path).as_uri()} ({result.seconds:.1f} s{reused})')
    for problem in result.problems:
        print(f'warning: part of the report could not be built: {problem}', file=sys.stderr)
    return ReportOutcome(complete=not result.problems)
