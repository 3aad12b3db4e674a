"""In-process latency of the served signatures: is the ranking stage fast enough to serve?

    python benchmarks/serving_latency.py --model-dir output/serving_model

Loads the newest version once, warms up, then times (i) predict_rating for 3 titles, (ii)
top_k over the whole catalog, (iii) predict_rating for a batch of 1,024 pairs. Prints a
table, and as its last line the JSON that CI or a notebook can parse. This measures the
model graph alone: TF Serving adds its REST or gRPC overhead on top.
"""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # CUDA plugin notices on a CPU machine

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

# rank.py lives at the root of the checkout, which is not an installed package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rank  # noqa: E402

BATCH_SIZE = 1024
SMALL_REQUEST = 3
# Users of MovieLens 100K are "1" to "943"; a user's id does not change the cost.
USER_IDS = [str(user) for user in range(1, 944)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model-dir', default=rank.DEFAULT_MODEL_DIR,
                        help='Serving dir with numbered versions, or one version dir.')
    parser.add_argument('--iterations', type=int, default=500,
                        help='Timed calls per request kind; enough for a stable p99.')
    parser.add_argument('--warmup', type=int, default=50)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def time_calls(call, iterations, warmup):
    """Milliseconds of each of `iterations` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e3)
    return np.asarray(times)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        version_dir = rank.resolve_version_dir(args.model_dir)
    except rank.UsageError as error:
        print(f'serving_latency.py: error: {error}', file=sys.stderr)
        return rank.EXIT_USAGE
    warnings.filterwarnings('ignore', category=FutureWarning)  # Google clients on Python 3.10
    import tensorflow as tf

    from models import features
    from models.ranking import signatures

    loaded = tf.saved_model.load(version_dir)
    predict_rating = loaded.signatures[signatures.PREDICT_RATING]
    top_k = loaded.signatures[signatures.TOP_K]
    rng = np.random.default_rng(args.seed)

    # The catalog comes from the model itself: top_k with k above its size returns all of it.
    catalog = top_k(user_id=tf.constant(USER_IDS[0]),
                    k=tf.constant(np.iinfo(np.int32).max))[signatures.MOVIE_TITLES]
    catalog_size = int(catalog.shape[0])

    def pairs(count):
        users = rng.choice(USER_IDS, count)
        titles = tf.gather(catalog, rng.integers(0, catalog_size, count))
        return {features.USER_ID: tf.constant(users), features.MOVIE_TITLE: titles}

    small, batch = pairs(SMALL_REQUEST), pairs(BATCH_SIZE)
    whole_catalog = {features.USER_ID: tf.constant(USER_IDS[1]),
                     signatures.K: tf.constant(catalog_size)}
    runs = [
        ('predict_rating', f'{SMALL_REQUEST} pairs', lambda: predict_rating(**small),
         args.iterations),
        ('top_k', f'k={catalog_size}, the whole catalog', lambda: top_k(**whole_catalog),
         args.iterations),
        # A batch costs more per call; fewer calls still give a stable median.
        ('predict_rating', f'{BATCH_SIZE} pairs', lambda: predict_rating(**batch),
         max(args.iterations // 5, 20)),
    ]
    results = []
    print(f'{version_dir}: catalog of {catalog_size} movies, in process, '
          f'{os.cpu_count()} CPUs')
    print(f'{"signature":<16}{"request":<34}{"calls":>7}{"p50 ms":>9}{"p99 ms":>9}')
    for signature, request, call, iterations in runs:
        times = time_calls(call, iterations, args.warmup)
        p50, p99 = np.percentile(times, 50), np.percentile(times, 99)
        results.append((p50, p99))
        print(f'{signature:<16}{request:<34}{iterations:>7}{p50:>9.3f}{p99:>9.3f}')

    (predict3_p50, predict3_p99), (rank_all_p50, rank_all_p99), (batch_p50, _) = results
    print(json.dumps({
        'predict3_p50_ms': round(predict3_p50, 3), 'predict3_p99_ms': round(predict3_p99, 3),
        'rank_all_p50_ms': round(rank_all_p50, 3), 'rank_all_p99_ms': round(rank_all_p99, 3),
        'batch1024_p50_ms': round(batch_p50, 3)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
