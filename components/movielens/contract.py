"""What the MovieLens ExampleGen takes and gives, by name: its sources, the releases and TFDS
configs it reads, their rating scales, and the custom properties of its Examples artifact.

A leaf module, so that the runners, the run summary, the report and the model use these names
without importing TFX or Beam.
"""
from typing import NamedTuple, Tuple

import numpy as np

# Sources: GroupLens files (a folder or the zip GroupLens ships), or a prepared TFDS data dir.
GROUPLENS = 'grouplens'
TFDS = 'tfds'
SOURCES = (GROUPLENS, TFDS)

# The file formats of the GroupLens releases. The CSV family is ML-20M, 25M, 32M, ml-latest
# and ml-latest-small, which share one layout (ratings.csv, movies.csv, ...).
FORMAT_100K = '100k'
FORMAT_1M = '1m'
FORMAT_10M = '10m'
FORMAT_CSV = 'csv'
FORMATS = (FORMAT_100K, FORMAT_1M, FORMAT_10M, FORMAT_CSV)


class RatingScale(NamedTuple):
    """The ratings a release allows: min, min + step, ..., max."""
    min: float
    max: float
    step: float

    def ratings(self) -> Tuple[float, ...]:
        """Every rating the release allows, lowest first."""
        count = int(round((self.max - self.min) / self.step)) + 1
        return tuple(self.min + index * self.step for index in range(count))

    def nearest(self, values: np.ndarray) -> np.ndarray:
        """Each value rounded to the nearest allowed rating."""
        steps = np.clip(np.round((values - self.min) / self.step), 0,
                        round((self.max - self.min) / self.step))
        return self.min + steps * self.step

    def allows(self, rating: float) -> bool:
        steps = (rating - self.min) / self.step
        return self.min <= rating <= self.max and abs(steps - round(steps)) < 1e-6

    def allows_all(self, ratings: np.ndarray) -> bool:
        """allows(), for every rating of an array at once."""
        steps = (ratings - self.min) / self.step
        return bool(np.all((ratings >= self.min) & (ratings <= self.max)
                           & (np.abs(steps - np.round(steps)) < 1e-6)))


WHOLE_STARS = RatingScale(min=1.0, max=5.0, step=1.0)
HALF_STARS = RatingScale(min=0.5, max=5.0, step=0.5)
RATING_SCALES = {
    FORMAT_100K: WHOLE_STARS,
    FORMAT_1M: WHOLE_STARS,
    FORMAT_10M: HALF_STARS,
    FORMAT_CSV: HALF_STARS,
}

# The TFDS MovieLens configs that it reads, and the format of the release each is made from;
# the first is the default.
TFDS_FORMATS = {
    'movielens/100k-ratings': FORMAT_100K,
    'movielens/1m-ratings': FORMAT_1M,
    'movielens/20m-ratings': FORMAT_CSV,
    'movielens/25m-ratings': FORMAT_CSV,
    'movielens/latest-small-ratings': FORMAT_CSV,
}
TFDS_NAMES = tuple(TFDS_FORMATS)

# The train/test splits GroupLens ships with a release: files uN.base and uN.test in ML-100K;
# rN.train and rN.test in ML-10M, where its script split_ratings.sh writes them.
PREDEFINED_SPLITS_OF = {
    FORMAT_100K: ('u1', 'u2', 'u3', 'u4', 'u5', 'ua', 'ub'),
    FORMAT_10M: ('r1', 'r2', 'r3', 'r4', 'r5', 'ra', 'rb'),
}
PREDEFINED_SPLITS = tuple(name for names in PREDEFINED_SPLITS_OF.values() for name in names)

# How the ratings are divided into train, eval and test: by a hash of (user, movie), by time
# (test is the future), or by a predefined split's files.
SPLIT_HASH = 'hash'
SPLIT_TIME = 'time'
SPLIT_PREDEFINED = 'predefined'
SPLIT_KINDS = (SPLIT_HASH, SPLIT_TIME, SPLIT_PREDEFINED)

# Custom properties of the Examples artifact.
# Int: bad rating rows that --skip-bad-rows dropped.
SKIPPED_ROWS_PROPERTY = 'skipped_rows'
# String: the release's format, one of FORMATS; the curated schema and the rating scale
# follow it.
FORMAT_PROPERTY = 'format'
# String: how the splits were made, one of SPLIT_KINDS.
SPLIT_PROPERTY = 'split'
# Int, time split only: the first timestamp (seconds since 1970) of eval, and of test.
EVAL_START_PROPERTY = 'eval_start_timestamp'
TEST_START_PROPERTY = 'test_start_timestamp'
