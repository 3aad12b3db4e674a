"""What MovieLensExampleGen reads: planned on the driver (the small tables read whole, the
ratings cut into work units), and the rows each work unit yields on a Beam worker.

A work unit is a shard of a GroupLens ratings file or a part of a prepared TFDS split; its
rows are (role, rating, movie features, user features), with the features serialised once
per movie and user. Bad rating rows fail the run, or are skipped and counted.
"""
import dataclasses
from typing import Any, Dict, Iterator, List, Optional, Tuple

from absl import logging
import numpy as np

from components.movielens import errors, grouplens, tf_examples, tfds_source
from components.movielens.contract import TFDS, TFDS_FORMATS
from components.movielens.rows import JoinedColumns, Rating
from models import features

# The reasons kept of the skipped rows of a work unit: enough to see what is wrong without
# flooding the log.
REASONS_PER_SHARD = 5

# What the rows of a work unit are: all ratings, or the train or test file of a predefined
# split.
ALL_ROWS = 'all'
BASE_ROWS = 'base'
TEST_ROWS = 'test'


class Skipped:
    """The bad rows one work unit skipped: how many, and the reasons of the first few."""

    def __init__(self):
        self.count = 0
        self.reasons: List[str] = []

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.reasons) < REASONS_PER_SHARD:
            self.reasons.append(reason)


class GroupLensRows:
    """The good rating rows of shards of a GroupLens release, joined with their movie and
    user; bad rows fail the run, or are skipped (and counted, if given a Skipped)."""

    def __init__(self, layout: grouplens.Layout, movies: Dict[str, grouplens.Movie],
                 users: Optional[Dict[str, grouplens.User]], skip_bad_rows: bool):
        self._release = layout.release
        self._movie_file = layout.movies.name
        self._user_file = layout.users.name if layout.users else None
        self._movies = movies
        self._users = users
        self._skip_bad_rows = skip_bad_rows

    def setup(self):
        self._parse = grouplens.RatingLines(self._release.format)
        self._movie_features = {movie_id: tf_examples.movie_features(**movie._asdict())
                                for movie_id, movie in self._movies.items()}
        self._user_features = {user_id: tf_examples.user_features(**user._asdict())
                               for user_id, user in (self._users or {}).items()}

    def __call__(self, shard: grouplens.Shard, skipped: Optional[Skipped] = None
                 ) -> Iterator[Tuple[str, Rating, bytes, bytes]]:
        """(role, rating, movie features, user features) of each good row of the shard."""
        for line_number, text in grouplens.read_shard(shard):
            rating = self._parse(shard.file, line_number, text)
            if rating is None:
                continue  # the header
            problem = rating if isinstance(rating, str) else self._join_problem(rating)
            if problem:
                if not self._skip_bad_rows:
                    raise errors.bad_row(shard.file.name, line_number, problem)
                if skipped is not None:
                    skipped.add(f'{shard.file.name} line {line_number}: {problem}')
                continue
            yield (shard.role, rating, self._movie_features[rating.movie_id],
                   self._user_features.get(rating.user_id, b''))

    def columns(self, shard: grouplens.Shard) -> Optional[JoinedColumns]:
        """The shard's ratings as joined columns, made in bulk; or None if a row needs
        reading on its own (by calling this object), being bad or maybe bad."""
        columns = grouplens.read_shard_columns(shard, self._release)
        if columns is None:
            return None
        movie_numbers, movie_of_rating = np.unique(columns.movie_ids, return_inverse=True)
        user_numbers, user_of_rating = np.unique(columns.user_ids, return_inverse=True)
        movie_ids = tuple(map(str, movie_numbers.tolist()))
        user_ids = tuple(map(str, user_numbers.tolist()))
        if (not all(movie_id in self._movies for movie_id in movie_ids) or
                (self._users is not None and
                 not all(user_id in self._users for user_id in user_ids))):
            return None  # the row by row read names the rows that do not join
        return JoinedColumns(
            shard.role, movie_ids, tuple(map(self._movie_features.__getitem__, movie_ids)),
            movie_of_rating, user_ids,
            tuple(self._user_features.get(user_id, b'') for user_id in user_ids),
            user_of_rating, columns.ratings, columns.timestamps)

    def _join_problem(self, rating: Rating) -> Optional[str]:
        if rating.movie_id not in self._movies:
            return f'movie id {errors.quote(rating.movie_id)} is not in {self._movie_file}'
        if self._users is not None and rating.user_id not in self._users:
            return f'user id {errors.quote(rating.user_id)} is not in {self._user_file}'
        return None


class TfdsRows:
    """The rows of one part of a prepared TFDS MovieLens split."""

    def __init__(self, data_dir: str, tfds_name: str):
        self._data_dir = data_dir
        self._tfds_name = tfds_name

    def setup(self):
        pass

    def columns(self, split: str) -> None:
        """A TFDS part is read a row at a time."""
        return None

    def __call__(self, split: str, skipped: Optional[Skipped] = None
                 ) -> Iterator[Tuple[str, Rating, bytes, bytes]]:
        """The rows of a part; a prepared TFDS split has no bad ones to skip."""
        for rating, movie, user in tfds_source.read_ratings(self._data_dir, self._tfds_name,
                                                            split):
            yield (ALL_ROWS, rating, tf_examples.movie_features(**movie._asdict()),
                   tf_examples.user_features(**user._asdict()) if user else b'')


@dataclasses.dataclass
class Plan:
    """What the Beam pipeline reads, and how it turns it into rows."""
    data_format: str  # one of contract.FORMATS
    work: List[Any]  # shards of ratings files, or parts of a TFDS split
    # GroupLensRows or TfdsRows: (work unit, Skipped or None) -> rows, and
    # .columns(work unit) -> the work unit in bulk, or None to read it a row at a time
    rows: Any


def plan(source: str, data_path: str, tfds_name: Optional[str], predefined_split: Optional[str],
         skip_bad_rows: bool) -> Plan:
    """Reads the small tables and plans the reads of the ratings, on the driver."""
    if source == TFDS:
        data_format = TFDS_FORMATS[tfds_name.partition(':')[0]]
        logging.info('TFDS %s, made from the MovieLens %s format.', tfds_name, data_format)
        rows = TfdsRows(data_path, tfds_name)
        return Plan(data_format, tfds_source.plan_reads(data_path, tfds_name), rows)
    layout = grouplens.locate(data_path)
    movies = grouplens.read_movies(layout)
    users = grouplens.read_users(layout)
    movie_tags = grouplens.read_tags(layout, features.MOVIE_TAGS_LIMIT)
    movies = {movie_id: movie._replace(tags=movie_tags.get(movie_id, ()))
              for movie_id, movie in movies.items()}
    if predefined_split:
        train, test = layout.predefined_split(predefined_split)
        shards = (grouplens.plan_shards(train, BASE_ROWS) +
                  grouplens.plan_shards(test, TEST_ROWS))
    else:
        shards = grouplens.plan_shards(layout.ratings, ALL_ROWS)
    tagged = sum(bool(movie.tags) for movie in movies.values())
    logging.info(
        'MovieLens %s release (format %s) in %s: %d movies (%s), %s, ratings in %d shards.',
        layout.release.name, layout.format, layout.folder, len(movies),
        f'{tagged} with tags from {layout.tags.name}' if layout.tags else 'no tags file',
        f'{len(users)} users' if users is not None else 'no users file, so no user features',
        len(shards))
    return Plan(layout.format, shards, GroupLensRows(layout, movies, users, skip_bad_rows))
