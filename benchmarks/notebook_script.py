"""The TFRS tutorial "Recommending movies: ranking" as a plain script: the yardstick that
benchmarks/pipeline_speed.py --against-notebook times the pipeline against.

    python benchmarks/notebook_script.py --data-dir path/to/ml-100k

It does what the tutorial's code does, on the same GroupLens files the pipeline reads instead
of tfds.load (which needs the network): a dataset of (user_id, movie_title, user_rating);
an 80/20 split after one shuffle with seed 42; vocabularies by StringLookup.adapt over the
unbatched ratings; 32-dim embeddings, Dense 256-64-1, MSE loss and RMSE metric in a
tfrs.tasks.Ranking; Adagrad 0.1; 3 epochs in batches of 8,192; test RMSE in batches of 4,096.
Nothing here is tuned: it is the tutorial, timed. The last line is JSON.
"""
import argparse
import json
import os
import sys
import time

# The project's root, for `models` alone: importing it selects Keras 2, on which the tutorial
# runs as the pipeline does. Nothing else of the project is used.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import models  # noqa: E402,F401

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402

SEED = 42
EMBEDDING_DIMENSION = 32


def read_ratings(data_dir: str) -> tf.data.Dataset:
    """u.data joined with the titles of u.item, as the features tfds.load would give."""
    with open(os.path.join(data_dir, 'u.item'), encoding='latin-1') as f:
        titles = {fields[0]: fields[1] for fields in (line.split('|') for line in f)
                  if len(fields) > 1}
    users, movies, ratings = [], [], []
    with open(os.path.join(data_dir, 'u.data'), encoding='ascii') as f:
        for line in f:
            user, movie, rating, _ = line.split('\t')
            users.append(user)
            movies.append(titles[movie])
            ratings.append(float(rating))
    return tf.data.Dataset.from_tensor_slices({
        'user_id': np.array(users), 'movie_title': np.array(movies),
        'user_rating': np.array(ratings, dtype=np.float32)})


class RankingModel(tf.keras.Model):
    def __init__(self, user_lookup, movie_lookup):
        super().__init__()
        self.user_embeddings = tf.keras.Sequential([
            user_lookup,
            tf.keras.layers.Embedding(user_lookup.vocabulary_size(), EMBEDDING_DIMENSION)])
        self.movie_embeddings = tf.keras.Sequential([
            movie_lookup,
            tf.keras.layers.Embedding(movie_lookup.vocabulary_size(), EMBEDDING_DIMENSION)])
        self.ratings = tf.keras.Sequential([
            tf.keras.layers.Dense(256, activation='relu'),
            tf.keras.layers.Dense(64, activation='relu'),
            tf.keras.layers.Dense(1)])

    def call(self, inputs):
        user_id, movie_title = inputs
        return self.ratings(tf.concat([self.user_embeddings(user_id),
                                       self.movie_embeddings(movie_title)], axis=1))


class MovielensModel(tfrs.models.Model):
    def __init__(self, user_lookup, movie_lookup):
        super().__init__()
        self.ranking_model = RankingModel(user_lookup, movie_lookup)
        self.task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError()])

    def call(self, features):
        return self.ranking_model((features['user_id'], features['movie_title']))

    def compute_loss(self, features, training=False):
        labels = features.pop('user_rating')
        return self.task(labels=labels, predictions=self(features))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-dir', default=os.environ.get('MOVIELENS_DIR'),
                        help='The ml-100k folder (u.data, u.item). Default: $MOVIELENS_DIR.')
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error('--data-dir is required (or set MOVIELENS_DIR)')
    started = time.monotonic()
    ratings = read_ratings(args.data_dir)
    count = int(ratings.cardinality())
    tf.random.set_seed(SEED)
    shuffled = ratings.shuffle(count, seed=SEED, reshuffle_each_iteration=False)
    train_size = int(0.8 * count)
    train = shuffled.take(train_size)
    test = shuffled.skip(train_size).take(count - train_size)

    user_lookup = tf.keras.layers.StringLookup(mask_token=None)
    user_lookup.adapt(ratings.map(lambda x: x['user_id']))
    movie_lookup = tf.keras.layers.StringLookup(mask_token=None)
    movie_lookup.adapt(ratings.map(lambda x: x['movie_title']))

    model = MovielensModel(user_lookup, movie_lookup)
    model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=0.1))
    model.fit(train.shuffle(count).batch(8192).cache(), epochs=3, verbose=2)
    metrics = model.evaluate(test.batch(4096).cache(), return_dict=True, verbose=0)
    result = {'test_rmse': round(float(metrics['root_mean_squared_error']), 4),
              'train_examples': train_size, 'seconds': round(time.monotonic() - started, 1)}
    print(json.dumps(result))
    return result


if __name__ == '__main__':
    main(sys.argv[1:])
