"""The predicted-vs-actual sample's summary: the statistics its box plots and bars show."""
import numpy as np
import pytest
import tensorflow as tf
from matplotlib import cbook

from components.movielens import contract
from reporting import predictions


@pytest.fixture(scope='module')
def scored():
    """Predictions that hedge towards the mean, for true ratings of 1 to 4 stars (no 5)."""
    generator = np.random.default_rng(7)
    actual = generator.integers(1, 5, size=500).astype(np.float32)
    predicted = (3.5 + 0.5 * (actual - 3.5) + generator.normal(0, 0.6, size=500)
                 ).astype(np.float32)
    return predicted, actual


def test_rmse_and_shares(scored):
    predicted, actual = scored
    sample = predictions.summarise(predicted, actual, every=3)
    assert sample.examples == 500 and sample.every == 3
    assert sample.rmse == pytest.approx(np.sqrt(np.mean((predicted - actual) ** 2)), rel=1e-6)
    assert sample.actual_shares == pytest.approx(
        [100 * np.mean(actual == star) for star in range(1, 6)])
    assert sample.actual_shares[4] == 0
    rounded = np.clip(np.round(predicted), 1, 5)
    assert sample.predicted_shares == pytest.approx(
        [100 * np.mean(rounded == star) for star in range(1, 6)])
    assert sum(sample.predicted_shares) == pytest.approx(100)


def test_box_statistics_are_those_matplotlib_would_draw(scored):
    predicted, actual = scored
    sample = predictions.summarise(predicted, actual)
    for star in sample.stars[:4]:
        expected = cbook.boxplot_stats(predicted[actual == star.star])[0]
        assert star.examples == int(np.sum(actual == star.star))
        assert (star.q1, star.median, star.q3, star.whisker_low, star.whisker_high,
                star.mean) == pytest.approx((expected['q1'], expected['med'], expected['q3'],
                                             expected['whislo'], expected['whishi'],
                                             expected['mean']), rel=1e-6)
    # No true 5s: nothing to draw, and nothing made up.
    assert sample.stars[4].examples == 0 and sample.stars[4].median is None


def test_half_stars_are_summarised_per_half_star():
    """A release rated in half stars (10M and later): ten ratings from 0.5, predictions
    rounded to the nearest half star."""
    actual = np.array([0.5, 0.5, 3.5, 3.5, 3.5, 5.0], dtype=np.float32)
    predicted = np.array([0.1, 1.2, 3.3, 3.6, 4.9, 5.4], dtype=np.float32)
    sample = predictions.summarise(predicted, actual, scale=contract.HALF_STARS)
    assert [star.star for star in sample.stars] == [0.5 * k for k in range(1, 11)]
    by_star = {star.star: star for star in sample.stars}
    assert (by_star[0.5].examples, by_star[3.5].examples, by_star[5.0].examples) == (2, 3, 1)
    assert by_star[3.5].median == pytest.approx(3.6)
    assert by_star[1.0].examples == 0 and by_star[1.0].median is None
    # Rounded to half stars: 0.5, 1.0, 3.5, 3.5, 5.0, 5.0.
    shares = dict(zip([star.star for star in sample.stars], sample.predicted_shares))
    assert shares[0.5] == shares[1.0] == pytest.approx(100 / 6)
    assert shares[3.5] == shares[5.0] == pytest.approx(200 / 6)
    assert sample.actual_shares[0] == pytest.approx(200 / 6)


def test_the_sample_is_the_first_records_of_a_hash_bucket_in_file_order(tmp_path):
    """Records hashed a batch at a time: the same ones, in the same order, as one by one,
    across files and batches (20,000 records, batches of 8,192)."""
    files = []
    for part in range(2):
        path = str(tmp_path / f'part-{part}.gz')
        with tf.io.TFRecordWriter(path, options='GZIP') as writer:
            for number in range(10_000):
                writer.write(f'{part}:{number}'.encode())
        files.append(path)
    every, limit = 7, 2_000
    records = [f'{part}:{number}'.encode() for part in range(2) for number in range(10_000)]
    buckets = tf.strings.to_hash_bucket_fast(records, every).numpy()
    in_bucket = [record for record, bucket in zip(records, buckets) if bucket == 0]
    assert len(in_bucket) > limit
    assert list(predictions.sampled_records(files, every, limit).as_numpy_iterator()) == (
        in_bucket[:limit])
    assert list(predictions.sampled_records(files, 1, 5).as_numpy_iterator()) == records[:5]
