"""The rows the MovieLens readers make (a rating, a movie, a user), ids and genres spelled as
the examples spell them, and how a movie, user or tag file is read into a table by id.

Every release and the TFDS source produce these same rows, so that they make the same
examples.
"""
import dataclasses
from typing import Callable, Dict, Iterable, NamedTuple, Optional, Tuple, TypeVar

import numpy as np

from components.movielens.errors import BadInputError, DATA_DIR_FLAG, SKIP_BAD_ROWS_FLAG, quote
from models import features

# How the 10M and CSV releases mark a movie without genres.
NO_GENRES_LISTED = '(no genres listed)'

_GENRES_BY_LOWER_NAME = {genre.lower(): genre for genre in features.ALL_GENRES}
_GENRES_BY_LOWER_NAME.update({"children's": 'Children', NO_GENRES_LISTED: features.UNKNOWN_GENRE})

_TABLE_FIX = f'Fix the line ({SKIP_BAD_ROWS_FLAG} drops only bad rating rows).'


class Rating(NamedTuple):
    user_id: str
    movie_id: str
    rating: float
    timestamp: int


@dataclasses.dataclass
class RatingColumns:
    """The ratings of a shard as columns, parsed in bulk: ids as the integers the files
    spell, so `str(id)` is the canonical id."""
    user_ids: np.ndarray  # int64
    movie_ids: np.ndarray  # int64
    ratings: np.ndarray  # float64
    timestamps: np.ndarray  # int64, seconds since 1970


@dataclasses.dataclass
class JoinedColumns:
    """The ratings of a shard as columns, joined with their movies and users: each distinct
    movie and user once, with its serialised features, and each rating's index into them."""
    role: str  # what the shard's rows are (reads.ALL_ROWS, ...)
    movie_ids: Tuple[str, ...]
    movie_features: Tuple[bytes, ...]
    movie_of_rating: np.ndarray
    user_ids: Tuple[str, ...]
    user_features: Tuple[bytes, ...]  # b'' each, for a release without user features
    user_of_rating: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray


class Movie(NamedTuple):
    title: str
    genres: Tuple[str, ...]
    tags: Tuple[str, ...] = ()  # the most frequent first; none where the release has no tags


class User(NamedTuple):
    gender: str
    bucketized_age: int
    occupation: str
    zip_code: str
    raw_age: Optional[int]  # None in the 1M format, which records only the bucket


def is_whole_number(text: str) -> bool:
    # isdigit() alone accepts digits such as '²' that int() rejects.
    return text.isascii() and text.isdigit()


def canonical_id(text: str) -> Optional[str]:
    """A movie or user id as the examples spell it ('042' -> '42'); None if not an id."""
    text = text.strip()
    return str(int(text)) if is_whole_number(text) else None


def canonical_genre(name: str) -> str:
    """A genre as models.features spells it: "Children's" -> 'Children', 'Unknown' and
    '(no genres listed)' -> 'unknown'; a genre it does not know is kept as it is."""
    return _GENRES_BY_LOWER_NAME.get(name.strip().lower(), name)


def known_genres(names: Iterable[str], file_name: str, line_number: int) -> Tuple[str, ...]:
    """The canonical genres of a movie line, each once, or 'unknown' if it names none; an
    unknown genre is an error."""
    genres = []
    for name in filter(None, names):
        genre = canonical_genre(name)
        if genre not in features.ALL_GENRES:
            raise table_error(file_name, line_number,
                              f'genre {quote(name)} is not a MovieLens genre (one of '
                              f'{", ".join(features.ALL_GENRES)}, or {NO_GENRES_LISTED})')
        if genre not in genres:
            genres.append(genre)
    return tuple(genres) or (features.UNKNOWN_GENRE,)


def table_error(file_name: str, line_number: int, problem: str) -> BadInputError:
    """A bad line of a movie, user or tag file: unlike a rating row, never skipped."""
    return BadInputError(f'{file_name} line {line_number}: {problem}. {_TABLE_FIX}')


def table_id(text: str, kind: str, file_name: str, line_number: int) -> str:
    row_id = canonical_id(text)
    if row_id is None:
        raise table_error(file_name, line_number, f'{kind} id {quote(text)} is not a whole number')
    return row_id


Row = TypeVar('Row')


def read_table(lines: Iterable[Tuple[int, str]], file_name: str,
               parse: Callable[[str, int], Tuple[str, Row]], kind: str) -> Dict[str, Row]:
    """A movie or user file, by canonical id, from its (line number, text) lines; an id
    listed twice is an error."""
    rows: Dict[str, Row] = {}
    first_lines: Dict[str, int] = {}
    for line_number, text in lines:
        row_id, row = parse(text, line_number)
        if row_id in rows:
            raise table_error(file_name, line_number,
                              f'{kind} id {quote(row_id)} is listed a second time (first on '
                              f'line {first_lines[row_id]})')
        rows[row_id] = row
        first_lines[row_id] = line_number
    if not rows:
        raise BadInputError(f'{file_name} is empty: it lists no {kind}s. Point '
                            f'{DATA_DIR_FLAG} at a complete MovieLens folder or zip.')
    return rows
