"""Ranks movies for one user with the served model, in process: the ranking stage by hand.

    python rank.py --user-id 42 "Star Wars (1977)" "Fargo (1996)" "Heat (1995)"
    python rank.py --user-id 42 --top-k 10
    python rank.py --model-dir output/serving_model/1732790000 --user-id 42 --top-k 10 --json

--model-dir is TF Serving's layout, numbered version dirs of which the newest is used (as the
Pusher writes them), or one version dir. Prints `title<TAB>score` lines, best first, scores
on the release's rating scale (1-5, or 0.5-5 with half stars); --json prints a list of
{"movie_title", "movie_id", "score", "known_title", "known_user"} objects instead. A title
that several movies share names the one with the most ratings in training; "movie_id" says
which ("" for a title the model does not know, null for a model exported without ids). A
user or title the model has never seen still gets a prediction (its out-of-vocabulary one);
--json marks it as unknown. A title that starts with "-" goes after "--". Usage errors exit
with code 2 and one line on stderr.
"""
import os

# TensorFlow's C++ start-up notices (CUDA plugins on a machine without a GPU) would bury
# the one line a user asked for; its real errors still arrive as Python exceptions.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

from components import serving_layout  # noqa: E402
from pipeline import configs  # noqa: E402

EXIT_USAGE = 2
DEFAULT_MODEL_DIR = os.path.join(configs.DEFAULT_OUTPUT_DIR, configs.SERVING_MODEL_SUBDIR)


class UsageError(Exception):
    """A mistake in the command line or the model dir, reported in one line with exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv=None):
    parser = _Parser(prog='rank.py', description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('movie_titles', nargs='*', metavar='TITLE',
                        help='Movie titles to rank, as in the data, e.g. "Fargo (1996)".')
    parser.add_argument('--user-id', required=True, help='The user to rank for, e.g. 42.')
    parser.add_argument('--top-k', type=int, metavar='K',
                        help="The K best movies of the model's catalog, instead of TITLEs.")
    parser.add_argument('--model-dir', default=DEFAULT_MODEL_DIR,
                        help='Serving dir with numbered versions, or one version dir. '
                             f'Default: {DEFAULT_MODEL_DIR}')
    parser.add_argument('--json', action='store_true', help='Print a JSON list.')
    args = parser.parse_args(argv)
    if not args.user_id.strip():
        raise UsageError('--user-id is empty: give the id of the user to rank for, '
                         'e.g. --user-id 42')
    if args.top_k is not None and args.movie_titles:
        raise UsageError('give either movie titles or --top-k K, not both')
    if args.top_k is None and not args.movie_titles:
        raise UsageError('nothing to rank: give movie titles after --user-id, or --top-k K')
    if args.top_k is not None and args.top_k < 1:
        raise UsageError(f'--top-k must be at least 1, got {args.top_k}')
    return args


def resolve_version_dir(model_dir: str) -> str:
    """`model_dir` if it is a SavedModel, else its newest numbered version."""
    if os.path.isfile(os.path.join(model_dir, serving_layout.SAVED_MODEL_FILE)):
        return model_dir
    if not os.path.isdir(model_dir):
        raise UsageError(f'--model-dir {model_dir} does not exist; run local_runner.py to '
                         'train and push a model, or point --model-dir at its serving_model dir')
    newest = serving_layout.newest_version_dir(model_dir)
    if newest is None:
        raise UsageError(f'no model version in {model_dir}: expected numbered version dirs '
                         f'holding {serving_layout.SAVED_MODEL_FILE}, as the Pusher writes '
                         'them')
    return newest


def _first_line_of(error) -> str:
    """The assertion message of a TensorFlow error, without its graph-node boilerplate."""
    message = getattr(error, 'message', str(error))
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith('assertion failed:'):
            return line
    return lines[-1] if lines else type(error).__name__


def rank(version_dir: str, user_id: str, movie_titles=None, top_k=None):
    """[{"movie_title", "movie_id", "score", "known_title", "known_user"}], best first."""
    # Imported here, so that a usage error is reported without waiting for TensorFlow.
    warnings.filterwarnings('ignore', category=FutureWarning)  # Google clients on Python 3.10
    import tensorflow as tf

    from models import features
    from models.ranking import signatures

    try:
        loaded = tf.saved_model.load(version_dir)
    except (OSError, tf.errors.OpError) as error:
        raise UsageError(f'cannot load the model in {version_dir}: '
                         f'{_first_line_of(error)}') from None
    name = signatures.TOP_K if top_k is not None else signatures.RANK
    if name not in loaded.signatures:
        raise UsageError(f'{version_dir} has no {name!r} signature: it was exported before '
                         'rank and top_k existed; push a newer model')
    # Bytes, so that a title the terminal could not decode still reaches the model.
    user = tf.constant(user_id.encode('utf-8', 'surrogateescape'))
    if top_k is not None:
        # k is an int32 in the model; any k beyond the catalog returns all of it anyway.
        k = min(top_k, tf.int32.max)
        inputs = {features.USER_ID: user, signatures.K: tf.constant(k, tf.int32)}
    else:
        inputs = {features.USER_ID: user, signatures.MOVIE_TITLES: tf.constant(
            [title.encode('utf-8', 'surrogateescape') for title in movie_titles])}
    try:
        outputs = loaded.signatures[name](**inputs)
    except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
        raise UsageError(f'the model refused the request: {_first_line_of(error)}') from None
    known_user = bool(outputs[signatures.KNOWN_USER].numpy())
    titles = outputs[signatures.MOVIE_TITLES].numpy()
    # A model pushed before movies were keyed by id returns no ids.
    movie_ids = (outputs[signatures.MOVIE_IDS].numpy() if signatures.MOVIE_IDS in outputs
                 else [None] * len(titles))
    return [{'movie_title': title.decode('utf-8', 'replace'),
             'movie_id': None if movie_id is None else movie_id.decode('utf-8', 'replace'),
             'score': round(float(score), 3), 'known_title': bool(known),
             'known_user': known_user}
            for title, movie_id, score, known in zip(titles, movie_ids,
                                                     outputs[signatures.SCORES].numpy(),
                                                     outputs[signatures.KNOWN_TITLES].numpy())]


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        version_dir = resolve_version_dir(args.model_dir)
        ranking = rank(version_dir, args.user_id, args.movie_titles, args.top_k)
    except UsageError as error:
        print(f'rank.py: error: {error}', file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(ranking, indent=1))
    else:
        for row in ranking:
            print(f"{row['movie_title']}\t{row['score']:.3f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
