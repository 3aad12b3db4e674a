"""The command-line flags that local_runner.py and kubeflow_runner.py share.

One definition, so that the same pipeline is configured the same way wherever it runs.
"""
import argparse

from pipeline import configs

PREDEFINED_SPLITS = ('u1', 'u2', 'u3', 'u4', 'u5', 'ua', 'ub')


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number of at least 1')
    return value


def add_training_flags(parser: argparse.ArgumentParser, sources) -> None:
    """Data source and model flags; `sources` are the --source choices the runner supports."""
    parser.add_argument('--source', choices=sources, default=configs.DEFAULT_SOURCE)
    parser.add_argument('--tfds-name', default=configs.DEFAULT_TFDS_NAME,
                        help='TFDS dataset with --source tfds, e.g. movielens/1m-ratings.')
    parser.add_argument('--seed', type=int, default=configs.DEFAULT_SEED,
                        help='Seed of model initialisation and shuffling (not of the splits, '
                             'which are fixed by a hash of user and movie).')
    parser.add_argument('--predefined-split', choices=PREDEFINED_SPLITS,
                        help='Use GroupLens uN.base / uN.test instead of the 72/8/20 hash split.')
    parser.add_argument('--architecture', choices=sorted(configs.HYPERPARAMETERS),
                        default=configs.DEFAULT_ARCHITECTURE,
                        help="'notebook' is the tutorial's model, for comparison.")
    parser.add_argument('--epochs', type=_positive, default=None,
                        help='Most training epochs (default: the architecture\'s, 40 for '
                             'hybrid); early stopping on eval may end sooner. Fewer suit '
                             'large data, where each epoch teaches more.')
    parser.add_argument('--train-steps', type=int, default=None,
                        help='Cap on training steps (e.g. 1 for a deliberately weak model).')
    parser.add_argument('--rmse-threshold', type=float, default=configs.RMSE_UPPER_BOUND,
                        help='A model whose test RMSE is above this is never blessed or pushed.')
    parser.add_argument('--skip-bad-rows', action='store_true',
                        help='Drop malformed rating rows instead of failing; they are counted.')


def training_settings(args: argparse.Namespace) -> dict:
    """The create_pipeline arguments that the training flags set."""
    return dict(
        hyperparameters=dict(configs.HYPERPARAMETERS[args.architecture], seed=args.seed,
                             **({'epochs': args.epochs} if args.epochs else {})),
        source='tfds' if args.source == 'tfds' else 'grouplens',
        tfds_name=args.tfds_name,
        predefined_split=args.predefined_split,
        skip_bad_rows=args.skip_bad_rows,
        train_steps=args.train_steps,
        rmse_upper_bound=args.rmse_threshold,
    )
