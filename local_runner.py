"""Runs the whole pipeline on this machine: LocalDagRunner, Beam DirectRunner, MLMD in SQLite.

    python local_runner.py --data-dir path/to/ml-100k --output-dir output

Everything a run writes goes under --output-dir: the pipeline root, metadata.sqlite, the
served model (serving_model/<version>/) and run_summary.json.
"""
import os

# TFX, TFT, TFMA and TFRS need Keras 2; this must precede any TensorFlow import.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from pipeline import configs, flags  # noqa: E402

# Beam workers install the project from it. Naming it also stops TFX from packaging its own
# sources for Beam before every component, which costs a second each time.
SETUP_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'setup.py')


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


def main(argv=None) -> int:
    args = parse_args(argv)
    # Google client libraries warn about Python 3.10 on import; TFX 1.16 requires it.
    warnings.filterwarnings('ignore', category=FutureWarning)
    from tfx import v1 as tfx

    from pipeline import pipeline as pipeline_module
    from pipeline import run_summary
    from pipeline.progress import ComponentProgress

    args.output_dir = os.path.abspath(args.output_dir)
    os.makedirs(args.output_dir, exist_ok=True)
    started = time.monotonic()
    data_path = resolve_data_path(args)
    metadata_path = os.path.join(args.output_dir, 'metadata.sqlite')
    pipeline = pipeline_module.create_pipeline(
        pipeline_root=os.path.join(args.output_dir, 'pipeline_root'),
        data_path=data_path,
        serving_model_dir=os.path.join(args.output_dir, 'serving_model'),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            metadata_path),
        beam_pipeline_args=[*configs.BEAM_PIPELINE_ARGS, f'--setup_file={SETUP_FILE}',
                            *args.beam_args],
        enable_cache=not args.no_cache,
        **flags.training_settings(args))

    print(f'Running {configs.PIPELINE_NAME} on {data_path} -> {args.output_dir}', flush=True)
    if not args.verbose:
        absl_logger = logging.getLogger('absl')
        absl_logger.setLevel(logging.WARNING)
        # TFX's resolver says this on every component; it is about an unused query feature.
        absl_logger.addFilter(lambda record: 'property_predicate' not in str(record.msg))
    failure = None
    with ComponentProgress(metadata_path) as progress:
        try:
            tfx.orchestration.LocalDagRunner().run(pipeline)
        except Exception as error:  # noqa: BLE001 -- reported below, with a non-zero exit
            failure = error
    if failure is not None:
        print(f'\nThe run failed: {failure}', file=sys.stderr)
        return 1

    summary = run_summary.build(progress.record, configs.PIPELINE_NAME, args.source, data_path,
                                time.monotonic() - started)
    path = run_summary.write(summary, args.output_dir)
    print(json.dumps(summary, indent=2))
    print(f'Summary written to {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
