"""In-process latency of the served signatures: is the ranking stage fast enough to serve?

    python benchmarks/serving_latency.py --model-dir output/serving_model
    python benchmarks/serving_latency.py --model-dir OLD --model-dir NEW --rounds 5

Loads the newest version once, warms up, then times (i) predict_rating for 3 titles, (ii)
top_k over the whole catalog, (iii) predict_rating for a batch of 1,024 pairs. Prints a
table, and as its last line the JSON that CI or a notebook can parse. This measures the
model graph alone: TF Serving adds its REST or gRPC overhead on top.

Given several --model-dir, it loads them all into one process and times them in turns,
`--rounds` times over, so that a shared machine's load falls on each alike: the only fair
comparison of two models on these machines. It then prints a table and a JSON line per
model, in the order given; the last lines are the JSON lines.
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
    parser.add_argument('--model-dir', action='append', dest='model_dirs',
                        help='Serving dir with numbered versions, or one version dir; repeat '
                             f'to compare models. Default: {rank.DEFAULT_MODEL_DIR}')
    parser.add_argument('--iterations', type=int, default=500,
                        help='Timed calls per request kind and round; enough for a stable '
                             'p99.')
    parser.add_argument('--warmup', type=int, default=50)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--rounds', type=int, default=1,
                        help='Times each model is timed, in turns; its calls are pooled.')
    args = parser.parse_args(argv)
    args.model_dirs = args.model_dirs or [rank.DEFAULT_MODEL_DIR]
    return args


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


def requests_of(loaded, seed, iterations):
    """(catalog size, [(signature, request, call, calls per round)]) of one loaded model; the
    same seed draws the same pairs from the same catalog."""
    import tensorflow as tf

    from models import features
    from models.ranking import signatures

    predict_rating = loaded.signatures[signatures.PREDICT_RATING]
    top_k = loaded.signatures[signatures.TOP_K]
    rng = np.random.default_rng(seed)

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
    return catalog_size, [
        ('predict_rating', f'{SMALL_REQUEST} pairs', lambda: predict_rating(**small),
         iterations),
        ('top_k', f'k={catalog_size}, the whole catalog', lambda: top_k(**whole_catalog),
         iterations),
        # A batch costs more per call; fewer calls still give a stable median.
        ('predict_rating', f'{BATCH_SIZE} pairs', lambda: predict_rating(**batch),
         max(iterations // 5, 20)),
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        version_dirs = [rank.resolve_version_dir(model_dir) for model_dir in args.model_dirs]
    except rank.UsageError as error:
        print(f'serving_latency.py: error: {error}', file=sys.stderr)
        return rank.EXIT_USAGE
    warnings.filterwarnings('ignore', category=FutureWarning)  # Google clients on Python 3.10
    import tensorflow as tf

    models = []
    for version_dir in version_dirs:
        catalog_size, runs = requests_of(tf.saved_model.load(version_dir), args.seed,
                                         args.iterations)
        models.append((version_dir, catalog_size, runs, [[] for _ in runs]))
    for _ in range(args.rounds):
        for _, _, runs, times in models:
            for (_, _, call, iterations), run_times in zip(runs, times):
                run_times.extend(time_calls(call, iterations, args.warmup))

    summaries = []
    for version_dir, catalog_size, runs, times in models:
        print(f'{version_dir}: catalog of {catalog_size} movies, in process, '
              f'{os.cpu_count()} CPUs, {args.rounds} round(s)')
        print(f'{"signature":<16}{"request":<34}{"calls":>7}{"p50 ms":>9}{"p99 ms":>9}')
        results = []
        for (signature, request, _, _), run_times in zip(runs, times):
            p50, p99 = np.percentile(run_times, 50), np.percentile(run_times, 99)
            results.append((p50, p99))
            print(f'{signature:<16}{request:<34}{len(run_times):>7}{p50:>9.3f}{p99:>9.3f}')
        (predict3_p50, predict3_p99), (rank_all_p50, rank_all_p99), (batch_p50, _) = results
        summaries.append({
            'predict3_p50_ms': round(predict3_p50, 3), 'predict3_p99_ms': round(predict3_p99, 3),
            'rank_all_p50_ms': round(rank_all_p50, 3), 'rank_all_p99_ms': round(rank_all_p99, 3),
            'batch1024_p50_ms': round(batch_p50, 3)})
    for version_dir, summary in zip(version_dirs, summaries):
        print(json.dumps(dict(summary, model_dir=version_dir)))
    return 0

if __name__ == '__main__':
    sys.exit(main())
