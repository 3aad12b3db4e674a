"""Reads a prepared TFDS MovieLens data set (movielens/100k-ratings, 1m-ratings, 20m-ratings,
25m-ratings or latest-small-ratings).

Nothing is downloaded: the data set must already be prepared in the TFDS data_dir. Rows
come out in the same shape as the GroupLens reader's, so that both sources make the same
examples: genre class ids become names, the gender bool becomes "M"/"F", ages become ints.
The configs made from the CSV releases have no user features; their rows have no User.
"""
import math
from typing import Iterator, List, Optional, Tuple

import tensorflow_datasets as tfds

from components.movielens.contract import TFDS_NAMES
from components.movielens.errors import BadInputError, DATA_DIR_FLAG
from components import filesystem
from components.movielens.rows import Movie, Rating, User, canonical_genre
from models import features

# The prepared split is read in parts of about this many examples, one Beam work unit each.
EXAMPLES_PER_READ = 500_000
_SPLIT = 'train'  # the only split TFDS MovieLens has


def input_location(data_dir: str, tfds_name: str) -> Tuple[str, str]:
    """(input_base, pattern) of the prepared files, for TFX's cache fingerprint."""
    # A bucket may not be readable where the pipeline is compiled.
    if not filesystem.is_uri(data_dir):
        _check_data_dir(data_dir, tfds_name)
    name, _, version = tfds_name.partition(':')
    return data_dir, f'{name}/{version or "*"}/*'


def _check_data_dir(data_dir: str, tfds_name: str) -> None:
    if not filesystem.isdir(data_dir):
        raise BadInputError(
            f'{DATA_DIR_FLAG} {data_dir} does not exist. For the TFDS source, point '
            f'{DATA_DIR_FLAG} at the TFDS data_dir in which {tfds_name} is prepared.')


def plan_reads(data_dir: str, tfds_name: str) -> List[str]:
    """The parts of the prepared split to read, as TFDS split strings."""
    _check_data_dir(data_dir, tfds_name)
    builder = _builder(data_dir, tfds_name)
    splits = builder.info.splits
    reads = [_SPLIT]
    if _SPLIT in splits:
        num_reads = math.ceil(splits[_SPLIT].num_examples / EXAMPLES_PER_READ)
        if num_reads > 1:
            reads = tfds.even_splits(_SPLIT, num_reads)
    try:
        # Only opens the files: fails here, with our message, if they are not there.
        builder.as_dataset(split=reads[0], shuffle_files=False)
    except AssertionError as error:  # how TFDS reports a data set that is not prepared
        raise BadInputError(
            f'{tfds_name} is not prepared in {data_dir}, and this pipeline downloads nothing '
            f'({error}). Prepare it there first (tfds build {tfds_name} --data_dir '
            f'{data_dir}), or pass GroupLens files with {DATA_DIR_FLAG} and source '
            "'grouplens'.") from error
    return reads


def _builder(data_dir: str, tfds_name: str) -> tfds.core.DatasetBuilder:
    try:
        return tfds.builder(tfds_name, data_dir=data_dir)
    except ValueError as error:  # TFDS's "not found"; its first line says what was not
        reason = str(error).splitlines()[0]
        raise BadInputError(f'TFDS cannot make {tfds_name} ({reason}). Use one of '
                            f'{", ".join(TFDS_NAMES)}.') from error


def read_ratings(data_dir: str, tfds_name: str,
                 split: str) -> Iterator[Tuple[Rating, Movie, Optional[User]]]:
    """The rows of one part of the prepared split; no User where the config has no user
    features."""
    builder = _builder(data_dir, tfds_name)
    genre_names = builder.info.features['movie_genres'].feature.names
    has_users = 'user_gender' in builder.info.features
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    for row in tfds.as_numpy(dataset):
        rating = Rating(_text(row['user_id']), _text(row['movie_id']),
                        float(row['user_rating']), int(row['timestamp']))
        genres = dict.fromkeys(canonical_genre(genre_names[index])
                               for index in row['movie_genres'])
        movie = Movie(_text(row['movie_title']), tuple(genres) or (features.UNKNOWN_GENRE,))
        user = None
        if has_users:
            raw_age = int(row['raw_user_age']) if 'raw_user_age' in row else None
            user = User('M' if row['user_gender'] else 'F', int(row['bucketized_user_age']),
                        _text(row['user_occupation_text']), _text(row['user_zip_code']),
                        raw_age)
        yield rating, movie, user


def _text(value: bytes) -> str:
    return value.decode('utf-8')
