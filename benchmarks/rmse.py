"""Model quality on the pipeline's own splits: our model over several seeds, the notebook's
model and two classical baselines, all on the same train/eval/test examples.

    python benchmarks/rmse.py --data-dir path/to/ml-100k --seeds 3

Every number for the two models is the test RMSE that the pipeline's Evaluator (TFMA)
computed. The runs share one output dir, so ExampleGen, statistics and Transform run once
and the splits are identical. The baselines are fitted here on the ExampleGen's train split,
their one knob chosen on eval. Prints a table, then a JSON line.
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile

import numpy as np

# The entry points live at the root of the checkout, which is not an installed package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import local_runner  # noqa: E402
from models import features  # noqa: E402
from pipeline import configs  # noqa: E402
from runs import record, results  # noqa: E402
from runs.output_dir import OutputDir  # noqa: E402

BIAS_REGULARISATION = (1.0, 3.0, 10.0, 25.0, 50.0)  # chosen on eval, never on test


def run_pipeline(output_dir, data_args, *extra):
    """One local_runner run; returns its summary. Its chatter goes to a log file."""
    log_path = os.path.join(output_dir, 'benchmark.log')
    os.makedirs(output_dir, exist_ok=True)
    with open(log_path, 'a') as log, contextlib.redirect_stdout(log):
        code = local_runner.main(['--output-dir', output_dir, *data_args, *extra])
    if code != 0:
        raise SystemExit(f'local_runner failed with exit code {code}; see {log_path}')
    with open(OutputDir(output_dir).summary) as f:
        return json.load(f)


def read_ratings(output_dir, split):
    """(user ids, movie titles, ratings) of one split of the last run's ExampleGen."""
    import tensorflow as tf
    run = record.RunRecord.latest(OutputDir(output_dir).metadata)
    files = sorted(results.split_files(run.output(record.EXAMPLE_GEN, 'examples'), split))
    spec = {features.USER_ID: tf.io.FixedLenFeature([], tf.string),
            features.MOVIE_TITLE: tf.io.FixedLenFeature([], tf.string),
            features.LABEL: tf.io.FixedLenFeature([], tf.float32)}
    users, movies, ratings = [], [], []
    dataset = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(8192).map(
        lambda batch: tf.io.parse_example(batch, spec))
    for batch in dataset:
        users.extend(batch[features.USER_ID].numpy())
        movies.extend(batch[features.MOVIE_TITLE].numpy())
        ratings.append(batch[features.LABEL].numpy())
    return np.array(users), np.array(movies), np.concatenate(ratings)


def rmse(predictions, ratings):
    return float(np.sqrt(np.mean((np.clip(predictions, 1, 5) - ratings) ** 2)))


class BiasBaseline:
    """rating = mean + b_user + b_movie, fitted by alternating regularised least squares."""

    def __init__(self, users, movies, ratings, regularisation, iterations=15):
        self.mean = ratings.mean()
        self.user_bias, self.movie_bias = {}, {}
        user_keys, user_index = np.unique(users, return_inverse=True)
        movie_keys, movie_index = np.unique(movies, return_inverse=True)
        b_user, b_movie = np.zeros(len(user_keys)), np.zeros(len(movie_keys))
        for _ in range(iterations):
            residual = ratings - self.mean - b_movie[movie_index]
            b_user = (np.bincount(user_index, residual, len(user_keys))
                      / (np.bincount(user_index, minlength=len(user_keys)) + regularisation))
            residual = ratings - self.mean - b_user[user_index]
            b_movie = (np.bincount(movie_index, residual, len(movie_keys))
                       / (np.bincount(movie_index, minlength=len(movie_keys)) + regularisation))
        self.user_bias = dict(zip(user_keys, b_user))
        self.movie_bias = dict(zip(movie_keys, b_movie))

    def predict(self, users, movies):
        return (self.mean + np.array([self.user_bias.get(u, 0.0) for u in users])
                + np.array([self.movie_bias.get(m, 0.0) for m in movies]))


def baselines(output_dir):
    train, eval_, test = (read_ratings(output_dir, split) for split in features.SPLITS)
    global_mean = rmse(np.full(len(test[2]), train[2].mean()), test[2])
    eval_scores = {reg: rmse(BiasBaseline(*train, reg).predict(eval_[0], eval_[1]), eval_[2])
                   for reg in BIAS_REGULARISATION}
    chosen = min(eval_scores, key=eval_scores.get)
    bias = rmse(BiasBaseline(*train, chosen).predict(test[0], test[1]), test[2])
    return {'global_mean': global_mean, 'user_item_bias': bias,
            'user_item_bias_regularisation': chosen}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-dir', default=configs.DEFAULT_DATA_DIR)
    parser.add_argument('--source', default=configs.DEFAULT_SOURCE)
    parser.add_argument('--synthetic-ratings', type=int)
    parser.add_argument('--predefined-split')
    parser.add_argument('--seeds', type=int, default=3, help='How many seeds of our model.')
    parser.add_argument('--first-seed', type=int, default=configs.DEFAULT_SEED)
    parser.add_argument('--output-dir', help='Work dir (default: a new temporary dir).')
    args = parser.parse_args(argv)
    output_dir = os.path.abspath(args.output_dir or tempfile.mkdtemp(prefix='rmse-bench-'))
    data_args = ['--source', args.source]
    if args.data_dir:
        data_args += ['--data-dir', args.data_dir]
    if args.synthetic_ratings:
        data_args += ['--synthetic-ratings', str(args.synthetic_ratings)]
    if args.predefined_split:
        data_args += ['--predefined-split', args.predefined_split]

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    ours, train_seconds = [], []
    for seed in seeds:
        # A generous bound: every seed is measured, whether or not it would be blessed.
        summary = run_pipeline(output_dir, data_args, '--seed', str(seed),
                               '--rmse-threshold', '10')
        ours.append(summary['test_rmse'])
        train_seconds.append(summary['components']['Trainer']['seconds'])
        print(f'seed {seed}: test RMSE {summary["test_rmse"]:.4f}, eval RMSE '
              f'{summary["eval_rmse"]:.4f}, Trainer {train_seconds[-1]:.1f} s', flush=True)
    notebook = run_pipeline(output_dir, data_args, '--architecture', 'notebook',
                            '--rmse-threshold', '10')
    result = {
        'seeds': seeds,
        'ours': ours,
        'ours_mean': float(np.mean(ours)),
        'ours_std': float(np.std(ours)),
        'ours_train_seconds': train_seconds,
        'notebook': notebook['test_rmse'],
        'notebook_train_seconds': notebook['components']['Trainer']['seconds'],
        **baselines(output_dir),
        'split_counts': notebook['data']['split_counts'],
    }
    print()
    print(f'{"model (test RMSE)":<42} {"RMSE":>8}')
    print(f'{"global mean":<42} {result["global_mean"]:8.4f}')
    print(f'{"user + item bias":<42} {result["user_item_bias"]:8.4f}')
    print(f'{"notebook architecture (3 epochs)":<42} {result["notebook"]:8.4f}')
    print(f'{f"ours, mean ± std over {len(seeds)} seeds":<42} '
          f'{result["ours_mean"]:8.4f} ± {result["ours_std"]:.4f}')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
