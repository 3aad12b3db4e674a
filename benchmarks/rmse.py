"""Model quality on the pipeline's own splits: our model over several seeds, the notebook's
model, two simple baselines and the strongest classical peers, all on the same
train/eval/test examples.

    make peers-venv  # once: the peers' own venv (see benchmarks/peers.py)
    .venv/bin/python benchmarks/rmse.py --data-dir path/to/ml-100k --seeds 3

Every number for the two models is the test RMSE that the pipeline's Evaluator (TFMA)
computed. The runs share one output dir, so ExampleGen, statistics and Transform run once
and the splits are identical. The baselines are fitted here on the ExampleGen's train split,
the bias baseline's regularisation chosen on eval, as the Trainer fits the one the gate holds
models to (models/ranking/bias_baseline.py). The peers, cornac's biased MF and surprise's
item-based KNNBaseline, run in a subprocess of .venv-peers (benchmarks/peers.py) on the same
splits, their settings chosen on eval; each is scored fitted on train (the bar) and refitted
on train + eval (as our served model is). Prints a table, then a JSON line.
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

# The entry points live at the root of the checkout, which is not an installed package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import local_runner  # noqa: E402
from models import features, schema  # noqa: E402
from models.ranking import bias_baseline  # noqa: E402
from pipeline import configs  # noqa: E402
from runs import record, results  # noqa: E402
from runs.output_dir import OutputDir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS_PYTHON = os.path.join(ROOT, '.venv-peers', 'bin', 'python')
PEERS_SCRIPT = os.path.join(ROOT, 'benchmarks', 'peers.py')
PEER_NAMES = {'cornac_biased_mf': "cornac biased MF (k=50)",
              'surprise_knn_baseline': "surprise KNNBaseline (item, pearson_baseline)"}


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
    """(user ids, movie ids, ratings) of one split of the last run's ExampleGen."""
    import tensorflow as tf
    run = record.RunRecord.latest(OutputDir(output_dir).metadata)
    files = sorted(results.split_files(run.output(record.EXAMPLE_GEN, 'examples'), split))
    spec = {features.USER_ID: tf.io.FixedLenFeature([], tf.string),
            features.MOVIE_ID: tf.io.FixedLenFeature([], tf.string),
            features.LABEL: tf.io.FixedLenFeature([], tf.float32)}
    users, movies, ratings = [], [], []
    dataset = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(8192).map(
        lambda batch: tf.io.parse_example(batch, spec))
    for batch in dataset:
        users.extend(batch[features.USER_ID].numpy())
        movies.extend(batch[features.MOVIE_ID].numpy())
        ratings.append(batch[features.LABEL].numpy())
    return np.array(users), np.array(movies), np.concatenate(ratings)


def rating_scale(output_dir) -> schema.RatingScale:
    """The scale of the release, from the schema the last run's Transform read."""
    import tensorflow_transform as tft
    run = record.RunRecord.latest(OutputDir(output_dir).metadata)
    graph = run.output(record.TRANSFORM, 'transform_graph')
    return schema.rating_scale(tft.TFTransformOutput(graph.uri).raw_metadata.schema,
                               where=graph.uri)


def rmse(predictions, ratings, scale):
    return bias_baseline.rmse(np.clip(predictions, scale.min, scale.max), ratings)


def as_indices(keys, *splits):
    """Each split's ids as indices into the train split's; an unseen id gets len(keys)."""
    index = {key: i for i, key in enumerate(keys)}
    return [np.array([index.get(key, len(keys)) for key in split]) for split in splits]


def baselines(output_dir, peers_python=None):
    train, eval_, test = (read_ratings(output_dir, split) for split in features.SPLITS)
    scale = rating_scale(output_dir)
    global_mean = rmse(np.full(len(test[2]), train[2].mean()), test[2], scale)
    users, movies = np.unique(train[0]), np.unique(train[1])
    user_index = as_indices(users, train[0], eval_[0], test[0])
    movie_index = as_indices(movies, train[1], eval_[1], test[1])
    # One row more than the ids of train: the unseen user or movie, whose bias is 0.
    fitted, _ = bias_baseline.fit_chosen_on_eval(
        (user_index[0], movie_index[0], train[2]), (user_index[1], movie_index[1], eval_[2]),
        len(users) + 1, len(movies) + 1, configs.BIAS_BASELINE_REGULARISATION, scale)
    bias = bias_baseline.rmse(fitted.predict(user_index[2], movie_index[2], scale), test[2])
    result = {'global_mean': global_mean, 'user_item_bias': bias,
              'user_item_bias_regularisation': fitted.regularisation}
    if peers_python:
        result['peers'] = peers(output_dir, (train, eval_, test), scale, peers_python)
    return result


def peers(output_dir, splits, scale, python):
    """benchmarks/peers.py's results on these splits, run by the peers' own Python."""
    if not os.path.exists(python):
        raise SystemExit(f'{python} does not exist: the peers need their own venv. Run '
                         '`make peers-venv`, pass --peers-python, or skip them with --no-peers.')
    path = os.path.join(output_dir, 'peer_splits.npz')
    arrays = {'scale': np.array([scale.min, scale.max])}
    for name, (users, movies, ratings) in zip(features.SPLITS, splits):
        arrays.update({f'{name}_user': users.astype(str), f'{name}_movie': movies.astype(str),
                       f'{name}_rating': ratings})
    np.savez(path, **arrays)
    done = subprocess.run([python, PEERS_SCRIPT, path], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f'{PEERS_SCRIPT} failed (exit {done.returncode}):\n{done.stderr}')
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    parser.add_argument('--peers-python', default=PEERS_PYTHON,
                        help='Python of the peers\' venv (default: .venv-peers, made by '
                        '`make peers-venv`).')
    parser.add_argument('--no-peers', action='store_true', help='Skip cornac and surprise.')
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
    ours, ours_eval, train_seconds, evaluator_bias = [], [], [], []
    for seed in seeds:
        # A generous bound: every seed is measured, whether or not it would be blessed.
        summary = run_pipeline(output_dir, data_args, '--seed', str(seed),
                               '--rmse-threshold', '10')
        ours.append(summary['test_rmse'])
        ours_eval.append(summary['eval_rmse'])
        # The bias baseline as the Trainer fitted it and the Evaluator scored it.
        evaluator_bias.append(summary['gate']['bias_baseline_rmse'])
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
        # The first fit's weights kept (early-stopped, averaged over the epochs around the
        # best), before the refit on train + eval that is served.
        'ours_eval': ours_eval,
        'ours_train_seconds': train_seconds,
        'notebook': notebook['test_rmse'],
        'notebook_train_seconds': notebook['components']['Trainer']['seconds'],
        **baselines(output_dir, None if args.no_peers else args.peers_python),
        'user_item_bias_evaluator': evaluator_bias,
        'split_counts': notebook['data']['split_counts'],
    }
    print()
    print(f'{"model (test RMSE)":<42} {"RMSE":>8}')
    print(f'{"global mean":<42} {result["global_mean"]:8.4f}')
    print(f'{"user + item bias":<42} {result["user_item_bias"]:8.4f}')
    print(f'{"notebook architecture (3 epochs)":<42} {result["notebook"]:8.4f}')
    for key, peer in result.get('peers', {}).items():
        print(f'{PEER_NAMES[key] + ", train":<42} {peer["test_rmse"]:8.4f}   '
              f'(eval {peer["eval_rmse"]:.4f}; {peer["setting"]})')
        print(f'{PEER_NAMES[key] + ", refitted on train+eval":<42} '
              f'{peer["test_rmse_refit"]:8.4f}')
    print(f'{f"ours, mean ± std over {len(seeds)} seeds":<42} '
          f'{result["ours_mean"]:8.4f} ± {result["ours_std"]:.4f}')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
