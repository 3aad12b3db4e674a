"""The report's predicted-vs-actual sample: the trained model's serving signature run over the
test split's raw tf.Examples, summarised per true rating.

TFMA reports the RMSE; this shows how the errors fall: a model trained on squared error
hedges towards the mean, rating 1s too high and 5s too low.
"""
from typing import Sequence

import numpy as np
import tensorflow as tf
from tfx.utils import path_utils

from components.movielens import contract
from models import features
from models.ranking import signatures
from reporting.context import PredictionSample, StarPredictions

# At most this many test examples are scored: enough for stable box plots, and about a
# second even on a large test split.
SAMPLE_LIMIT = 20_000
_BATCH = 4096
_READ_BATCH = 8192
# Box plots' usual whiskers: the furthest prediction within this many IQRs of the box.
_WHISKER_IQR = 1.5


def sample(model_uri: str, test_files: Sequence[str], test_examples: int,
           scale: contract.RatingScale = contract.WHOLE_STARS,
           limit: int = SAMPLE_LIMIT) -> PredictionSample:
    """Scores the test split, or a hashed sample of it when it has more than `limit` examples.

    Args:
      model_uri: the Trainer's model artifact.
      test_files: the test split's GZIP TFRecord files.
      test_examples: how many examples the split holds, which sets the sampling rate.
      scale: the ratings the release allows.
      limit: the most examples to score.

    Returns:
      The predictions and true ratings, summarised per star.
    """
    loaded = tf.saved_model.load(path_utils.serving_model_path(model_uri))
    serve = loaded.signatures[signatures.SERVING_DEFAULT]
    label_spec = {features.LABEL: tf.io.FixedLenFeature([], tf.float32)}
    every = max(1, -(-test_examples // limit))
    predicted, actual = [], []
    for batch in sampled_records(test_files, every, limit).batch(_BATCH):
        predicted.append(serve(**{signatures.EXAMPLES: batch})[signatures.RATING].numpy())
        actual.append(tf.io.parse_example(batch, label_spec)[features.LABEL].numpy())
    return summarise(np.concatenate(predicted), np.concatenate(actual), every, scale)


def sampled_records(files: Sequence[str], every: int, limit: int) -> tf.data.Dataset:
    """The records of GZIP TFRecord files whose hash falls in one bucket of `every`, the
    first `limit` of them. A hash of the bytes, not the first records: the files keep the
    input's order (GroupLens 1M is sorted by user), so the first ones would not be typical.
    Hashed a batch of records at a time: one filter call per record took 38 s of a 10M
    run's report, for its 2M test records."""
    records = tf.data.TFRecordDataset(list(files), compression_type='GZIP')
    if every > 1:
        records = records.batch(_READ_BATCH).map(lambda batch: tf.boolean_mask(
            batch, tf.strings.to_hash_bucket_fast(batch, every) == 0)).unbatch()
    return records.take(limit)


def summarise(predicted: np.ndarray, actual: np.ndarray, every: int = 1,
              scale: contract.RatingScale = contract.WHOLE_STARS) -> PredictionSample:
    """The sample as the page shows it.

    Args:
      predicted: the model's rating of each example.
      actual: each example's true rating, one that `scale` allows.
      every: one example in `every` of the split was scored.
      scale: the ratings the release allows.

    Returns:
      The RMSE, box-plot statistics per true rating, and the share of each star among the
      rounded predictions and the true ratings.
    """
    stars = scale.ratings()
    rounded = scale.nearest(predicted)
    return PredictionSample(
        examples=int(actual.size), every=every,
        rmse=float(np.sqrt(np.mean((predicted - actual) ** 2))),
        stars=tuple(_star(star, np.asarray(predicted)[np.isclose(actual, star)])
                    for star in stars),
        predicted_shares=tuple(float(100 * np.mean(np.isclose(rounded, star)))
                               for star in stars),
        actual_shares=tuple(float(100 * np.mean(np.isclose(actual, star))) for star in stars))


def _star(star: float, values: np.ndarray) -> StarPredictions:
    if not values.size:
        return StarPredictions(star, 0, None, None, None, None, None, None)
    q1, median, q3 = (float(q) for q in np.percentile(values, [25, 50, 75]))
    reach = _WHISKER_IQR * (q3 - q1)
    # As matplotlib's boxplot: the whisker ends at the furthest value within reach, never
    # inside the box.
    low = values[values >= q1 - reach]
    high = values[values <= q3 + reach]
    return StarPredictions(star, int(values.size), float(values.mean()), q1, median, q3,
                           min(float(low.min()), q1) if low.size else q1,
                           max(float(high.max()), q3) if high.size else q3)
