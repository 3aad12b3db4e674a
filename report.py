"""Writes the report of a pipeline run: <output-dir>/report/index.html, readable offline.

    python report.py --output-dir output

local_runner.py writes the report at the end of each run; this regenerates it from what a
run left behind (its record in metadata.sqlite and its artifacts), for instance after the
report code changed. It reports on the latest run recorded in the dir, complete or not.
Parts drawn from the same artifacts as in the previous report are reused, unless --rebuild
is given. Exit code 0 when the whole page was built; 1 when some part of it could not be
(each such part shows its error on the page); 2 when the dir holds no run that can be read:
none was recorded, or its metadata.sqlite is damaged (the message says what to do).
"""
import os

# TensorFlow's C++ start-up notices would bury the one line this prints.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import argparse  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

from pipeline import configs  # noqa: E402

EXIT_INCOMPLETE_REPORT = 1
EXIT_NO_RUN = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output-dir', default=configs.DEFAULT_OUTPUT_DIR,
                        help='The --output-dir of a local_runner.py run. '
                             f'Default: {configs.DEFAULT_OUTPUT_DIR}')
    parser.add_argument('--rebuild', action='store_true',
                        help='Draw every part again, even those whose artifacts are unchanged '
                             'since the previous report.')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    # Google client libraries warn about Python 3.10 on import; TFX 1.16 requires it.
    warnings.filterwarnings('ignore', category=FutureWarning)
    from reporting import report
    from runs.record import NoRunError
    from runs.store import DamagedStoreError

    try:
        result = report.build_report(args.output_dir, reuse=not args.rebuild)
    except (NoRunError, DamagedStoreError) as error:
        print(f'error: {error}', file=sys.stderr)
        return EXIT_NO_RUN
    print(f'Report written to {result.path} in {result.seconds:.1f} s; open '
          f'{pathlib.Path(result.path).as_uri()}')
    for problem in result.problems:
        print(f'warning: part of the report could not be built: {problem}', file=sys.stderr)
    return EXIT_INCOMPLETE_REPORT if result.problems else 0


if __name__ == '__main__':
    sys.exit(main())
