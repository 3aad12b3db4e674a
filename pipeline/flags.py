"""The command-line flags that local_runner.py and kubeflow_runner.py share, and the
create_pipeline arguments they set.

One definition, so that the same pipeline is configured the same way wherever it runs.
Settings flow one way: configs.py gives the defaults, the flags override them, and
pipeline_arguments() hands them to create_pipeline, which reads no setting itself.
"""
import argparse
from typing import Any, Dict, Sequence

from components.movielens import contract
from pipeline import configs

# local_runner.py also generates MovieLens-shaped data; it is read as GroupLens files.
SYNTHETIC = 'synthetic'
LOCAL_SOURCES = contract.SOURCES + (SYNTHETIC,)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number of at least 1')
    return value


def _tfds_name(text: str) -> str:
    """A TFDS config this pipeline reads, optionally with a version ('name:1.0.0')."""
    if text.partition(':')[0] not in contract.TFDS_NAMES:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not one of {", ".join(contract.TFDS_NAMES)} (optionally with '
            ':VERSION)')
    return text


def add_training_flags(parser: argparse.ArgumentParser, sources: Sequence[str]) -> None:
    """Data source and model flags; `sources` are the --source choices the runner supports."""
    parser.add_argument('--source', choices=sources, default=configs.DEFAULT_SOURCE)
    parser.add_argument('--tfds-name', type=_tfds_name, default=configs.DEFAULT_TFDS_NAME,
                        help='TFDS dataset with --source tfds, e.g. movielens/1m-ratings.')
    parser.add_argument('--seed', type=int, default=configs.DEFAULT_SEED,
                        help='Seed of model initialisation and shuffling (not of the splits, '
                             'which are fixed by a hash of user and movie).')
    parser.add_argument('--split', choices=(contract.SPLIT_HASH, contract.SPLIT_TIME),
                        default=configs.DEFAULT_SPLIT,
                        help='How the 72/8/20 train/eval/test split is made: by a hash of '
                             'user and movie, or by time (cut at timestamp quantiles, so '
                             'that test is the future).')
    parser.add_argument('--predefined-split', choices=contract.PREDEFINED_SPLITS,
                        help='Use a split GroupLens ships: ML-100K uN.base / uN.test, or ML-10M '
                             'rN.train / rN.test (written by its split_ratings.sh); eval is '
                             'carved from the train file by hash.')
    parser.add_argument('--architecture', choices=sorted(configs.HYPERPARAMETERS),
                        default=configs.DEFAULT_ARCHITECTURE,
                        help="'notebook' is the tutorial's model, for comparison.")
    parser.add_argument('--epochs', type=positive_int, default=None,
                        help='Most training epochs (default: the architecture\'s, 40 for '
                             'hybrid); early stopping on eval may end sooner. Fewer suit '
                             'large data, where each epoch teaches more.')
    parser.add_argument('--train-steps', type=int, default=None,
                        help='Cap on training steps (e.g. 1 for a deliberately weak model).')
    parser.add_argument('--rmse-threshold', type=float, default=None,
                        help='A model whose test RMSE is above this is never blessed or pushed. '
                             'Default: none; a model must instead beat the user + item bias '
                             'baseline fitted on the same train split.')
    parser.add_argument('--skip-bad-rows', action='store_true',
                        help='Drop malformed rating rows instead of failing; they are counted.')


def checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """args, once the flags are known to make sense together; else the parser's error."""
    if args.predefined_split and args.source == contract.TFDS:
        parser.error('--predefined-split needs the GroupLens files (uN.base, uN.test); the '
                     'TFDS source has none. Use --source grouplens, or drop the split.')
    if args.predefined_split and args.split == contract.SPLIT_TIME:
        parser.error('--predefined-split fixes the test split, so it cannot be cut by time. '
                     'Drop one of --predefined-split and --split time.')
    return args


def pipeline_arguments(args: argparse.Namespace) -> Dict[str, Any]:
    """The create_pipeline arguments that configs.py and the shared flags set; each runner
    adds its own roots, Beam arguments and metadata."""
    hyperparameters = dict(configs.HYPERPARAMETERS[args.architecture], seed=args.seed)
    if args.epochs:
        hyperparameters['epochs'] = args.epochs
    return dict(
        pipeline_name=configs.PIPELINE_NAME,
        # Synthetic data is written as GroupLens files.
        source=contract.TFDS if args.source == contract.TFDS else contract.GROUPLENS,
        tfds_name=args.tfds_name,
        predefined_split=args.predefined_split,
        split=args.split,
        skip_bad_rows=args.skip_bad_rows,
        split_buckets=configs.SPLIT_BUCKETS,
        preprocessing_fn=configs.PREPROCESSING_FN,
        run_fn=configs.RUN_FN,
        hyperparameters=hyperparameters,
        train_steps=args.train_steps,
        rmse_upper_bound=args.rmse_threshold,
        rmse_min_improvement=configs.RMSE_MIN_IMPROVEMENT,
        slices=configs.SLICES,
        eval_batch_size=configs.EVAL_BATCH_SIZE,
    )
