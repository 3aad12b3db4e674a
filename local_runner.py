"""Runs the whole pipeline on this machine: LocalDagRunner, Beam FnApiRunner, MLMD in SQLite.

    python local_runner.py --data-dir path/to/ml-100k --output-dir output

Everything a run writes goes under --output-dir: the pipeline root, metadata.sqlite, the
served model (serving_model/<version>/), run_summary.json and the report. A run holds the
lock <output-dir>/.lock throughout, so a second run into the same dir refuses to start. The
same command again, with nothing changed, prints the last run's verdict without importing TFX
(runs/up_to_date.py).

Exit codes: 0 when the run completed, blessed or not; 1 when the data or a component
failed, the disk filled up, the output dir cannot hold a run or its metadata.sqlite is
damaged, with the reason on stderr; 2 when a flag does not parse; 75 when another run holds
the output dir; 130 and 143 when SIGINT (Ctrl-C) or SIGTERM interrupted the run, which the
same command then resumes from the cache.
"""
import argparse
import gc
import sys

from components.movielens import contract
from pipeline import configs, flags
from runs import local


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-dir', default=configs.DEFAULT_DATA_DIR,
                        help='A MovieLens release folder or .zip (ML-100K, 1M, 10M, 20M, 25M, '
                             '32M, ml-latest or ml-latest-small), or a TFDS data dir with '
                             f'--source tfds. Default: ${configs.DATA_DIR_ENV}; without either, '
                             'ml-100k is downloaded from GroupLens.')
    flags.add_training_flags(parser, flags.LOCAL_SOURCES)
    parser.add_argument('--synthetic-ratings', type=flags.positive_int,
                        default=configs.DEFAULT_SYNTHETIC_RATINGS,
                        help='Number of ratings with --source synthetic.')
    parser.add_argument('--synthetic-format', choices=contract.FORMATS,
                        default=configs.DEFAULT_SYNTHETIC_FORMAT,
                        help="The release whose files --source synthetic writes: 100k and 1m "
                             "with user features and whole stars, 10m and csv (ML-20M's to "
                             "32M's layout) with tags and half stars.")
    parser.add_argument('--output-dir', default=configs.DEFAULT_OUTPUT_DIR)
    parser.add_argument('--beam-arg', action='append', default=[], dest='beam_args',
                        help='Extra Beam pipeline argument, repeatable, e.g. '
                             '--beam-arg=--direct_running_mode=multi_processing')
    parser.add_argument('--no-cache', action='store_true',
                        help='Run every component even if its inputs are unchanged.')
    parser.add_argument('--verbose', action='store_true', help="Show TFX's INFO logs.")
    return flags.checked(parser, parser.parse_args(argv))


def main(argv=None, own_process: bool = False) -> int:
    """Runs the pipeline; returns the exit code. `own_process`: this process exists for
    this run alone (the command line), not for several (the tests)."""
    return local.run(parse_args(argv), own_process)


if __name__ == '__main__':
    exit_code = main(own_process=True)
    # At the exit Python would run the collector over the whole heap, TensorFlow's and
    # TFX's included: seconds for nothing, since the process ends anyway.
    gc.freeze()
    sys.exit(exit_code)
