"""The predicted-vs-actual sample's summary: the statistics its box plots and bars show."""
import numpy as np
import pytest
from matplotlib import cbook

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
