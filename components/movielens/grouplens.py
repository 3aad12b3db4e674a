"""Reads a GroupLens MovieLens release (100K, 1M, 10M or the CSV family) from a folder or a
.zip: finds its files, reads its movie, user and tag tables, and plans and parses its ratings.

The small tables are read whole, on the driver. The ratings file is only planned here, as
shards of whole lines; Beam workers parse the shards, so that tens of millions of ratings
never sit in one process's memory.
"""
import bisect
import dataclasses
import io
import itertools
import math
import os
import posixpath
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

import pyarrow as pa
from pyarrow import csv as pa_csv

from components import filesystem
from components.movielens import csv_tables, files, releases, tags
from components.movielens.contract import (FORMAT_100K, FORMAT_CSV, PREDEFINED_SPLITS,
                                          RATING_SCALES)
from components.movielens.errors import BadInputError, DATA_DIR_FLAG, quote
from components.movielens.files import DataFile
from components.movielens.releases import RELEASES, Release
from components.movielens.rows import (Movie, Rating, RatingColumns, User, canonical_id,
                                       is_whole_number, known_genres, read_table, table_error,
                                       table_id)
from models import features

# The ratings are planned into shards of this many lines; a shard is one unit of Beam work.
LINES_PER_SHARD = 200_000
_CHUNK_BYTES = 1 << 20

_SEPARATOR_NAMES = {'\t': 'tabs', '::': "'::'"}

# The bytes of a plain ratings line, whatever its separator: digits, a rating's decimal
# point, and LF line ends.
_PLAIN_BYTES = b'0123456789.\n'
_RATING_COLUMNS = ('user_id', 'movie_id', 'rating', 'timestamp')

# users.dat gives occupations as codes; TFDS spells them out with these names.
_1M_OCCUPATIONS = (
    'other/not specified', 'academic/educator', 'artist', 'clerical/admin',
    'college/grad student', 'customer service', 'doctor/health care',
    'executive/managerial', 'farmer', 'homemaker', 'K-12 student', 'lawyer', 'programmer',
    'retired', 'sales/marketing', 'scientist', 'self-employed', 'technician/engineer',
    'tradesman/craftsman', 'unemployed', 'writer')


def uri_input_location(data_path: str) -> Tuple[str, str]:
    """(input_base, pattern) of data behind a URI, found without reading it: the pipeline
    may be compiled where the bucket cannot be read. The executor checks it when it runs."""
    data_path = data_path.rstrip('/')
    if data_path.lower().endswith('.zip'):
        return posixpath.dirname(data_path), posixpath.basename(data_path)
    return data_path, '*'


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the files of one GroupLens release are, and which format they are in."""
    format: str  # one of contract.FORMATS
    folder: str  # the folder (or zip folder) that holds the files, for messages
    files: Mapping[str, DataFile]  # every file of that folder, by base name
    input_base: str  # with input_pattern, the files TFX fingerprints for its cache
    input_pattern: str

    @property
    def release(self) -> Release:
        return RELEASES[self.format]

    @property
    def ratings(self) -> DataFile:
        return self.files[self.release.ratings]

    @property
    def movies(self) -> DataFile:
        return self.files[self.release.movies]

    @property
    def users(self) -> Optional[DataFile]:
        """None for the releases without user features."""
        return self.files[self.release.users] if self.release.users else None

    @property
    def tags(self) -> Optional[DataFile]:
        """None where the release has no tags, or this copy of it lacks the file."""
        return self.files.get(self.release.tags) if self.release.tags else None

    @property
    def separator(self) -> Optional[str]:
        return self.release.separator

    def predefined_split(self, name: str) -> Tuple[DataFile, DataFile]:
        """The (train, test) files of GroupLens' split `name`: u1.base and u1.test in
        ML-100K, r1.train and r1.test in ML-10M."""
        if name not in PREDEFINED_SPLITS:
            raise ValueError(f'predefined split {name!r} is not one of '
                             f'{", ".join(PREDEFINED_SPLITS)}')
        [owner] = [release for release in RELEASES.values()
                   if name in release.predefined_splits]
        needed = [pattern.format(name) for pattern in owner.predefined_split_files]
        if owner is not self.release:
            raise BadInputError(
                f'predefined split {name} needs {" and ".join(needed)}, which only '
                f'{owner.name} has; {self.folder} holds {self.release.name}. Drop the '
                'predefined split to split by hash.')
        missing = [file_name for file_name in needed if file_name not in self.files]
        if missing:
            raise BadInputError(
                f'{" and ".join(missing)} not found in {self.folder}, which the predefined '
                f'split {name} needs. {owner.predefined_split_fix}')
        return self.files[needed[0]], self.files[needed[1]]


def locate(data_path: str) -> Layout:
    """Finds the release in a folder, its single sub-folder, or a .zip."""
    if not filesystem.exists(data_path):
        raise BadInputError(
            f'{DATA_DIR_FLAG} {data_path} does not exist. Point {DATA_DIR_FLAG} at a MovieLens '
            'release folder (such as ml-100k, ml-1m, ml-10M100K or ml-25m) or at its .zip.')
    in_zip = not filesystem.isdir(data_path)
    if in_zip and not data_path.lower().endswith('.zip') and not files.is_zip(data_path):
        raise BadInputError(
            f'{DATA_DIR_FLAG} {data_path} is a file, not a folder or a .zip. Point '
            f'{DATA_DIR_FLAG} at the folder that holds the MovieLens files (u.data, '
            'ratings.dat or ratings.csv), or at the zip GroupLens ships.')
    folders = files.folders_in_zip(data_path) if in_zip else files.folders_in_dir(data_path)
    folder = _choose_folder(data_path, folders)
    folder_name = f'{data_path}:{folder or "/"}' if in_zip else folder
    release = releases.detect(folder_name, folders[folder])
    if in_zip:
        # TFX fingerprints the zip itself: its size and modification time.
        if filesystem.is_uri(data_path):
            input_base, input_pattern = uri_input_location(data_path)
        else:
            input_base = os.path.dirname(os.path.abspath(data_path))
            input_pattern = os.path.basename(data_path)
    else:
        input_base, input_pattern = folder, release.fingerprint_pattern
    present = folders[folder]
    for needed in release.needed:
        if needed not in present:
            raise BadInputError(
                f'{needed} is missing: {folder_name} holds {release.ratings} but no {needed}. '
                f'Point {DATA_DIR_FLAG} at a complete MovieLens {release.name} folder or zip '
                f'({", ".join(release.needed)}).')
    return Layout(release.format, folder_name, present, input_base, input_pattern)


def _choose_folder(data_path: str, folders: Mapping[str, Mapping[str, DataFile]]) -> str:
    """The one folder that holds a ratings file."""
    candidates = [folder for folder, names in folders.items() if releases.has_ratings(names)]
    top = data_path if filesystem.isdir(data_path) else ''
    if top in candidates:
        return top
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        found = set(folders.get(top, {}))
        found |= {os.path.basename(folder.rstrip('/')) + '/' for folder in folders
                  if folder != top}
        raise releases.not_a_release(data_path, found)
    raise BadInputError(
        f'{data_path} holds several MovieLens folders ({", ".join(candidates)}). '
        f'Point {DATA_DIR_FLAG} at one of them.')


def bucketize_age(age: int) -> int:
    """The lower bound of the age's bucket in features.AGE_BUCKETS, as TFDS computes it."""
    index = bisect.bisect_right(features.AGE_BUCKETS, age) - 1
    return features.AGE_BUCKETS[max(index, 0)]


def read_movies(layout: Layout) -> Dict[str, Movie]:
    """The movie file, by canonical movie id (without tags: see read_tags)."""
    data_file = layout.movies
    lines = files.table_lines(data_file)
    if layout.format == FORMAT_CSV:
        return csv_tables.read_movies(data_file, lines)
    if layout.format == FORMAT_100K:
        def parse(text, line_number):
            return _parse_100k_movie(text, data_file.name, line_number)
    else:
        def parse(text, line_number):
            return _parse_dat_movie(text, data_file.name, line_number)
    return read_table(lines, data_file.name, parse, 'movie')


def _parse_100k_movie(text: str, file_name: str, line_number: int) -> Tuple[str, Movie]:
    fields = text.split('|')
    if len(fields) != 5 + len(features.GENRES):
        raise table_error(file_name, line_number,
                          f'{quote(text)} has {len(fields)} fields; expected 24: id|title|'
                          'release date|video release date|IMDb URL|19 genre flags')
    movie_id = table_id(fields[0], 'movie', file_name, line_number)
    flags = fields[5:]
    for flag in flags:
        if flag not in ('0', '1'):
            raise table_error(file_name, line_number, f'genre flag {quote(flag)} is not 0 or 1')
    genres = tuple(genre for genre, flag in zip(features.GENRES, flags) if flag == '1')
    return movie_id, Movie(fields[1], genres)


def _parse_dat_movie(text: str, file_name: str, line_number: int) -> Tuple[str, Movie]:
    """A line of the 1M or 10M movies.dat."""
    fields = text.split('::')
    if len(fields) != 3:
        raise table_error(file_name, line_number,
                          f'{quote(text)} has {len(fields)} fields; expected 3: '
                          'id::title::genres')
    movie_id = table_id(fields[0], 'movie', file_name, line_number)
    return movie_id, Movie(fields[1], known_genres(fields[2].split('|'), file_name,
                                                   line_number))


def read_users(layout: Layout) -> Optional[Dict[str, User]]:
    """The user file, by canonical user id; None for a release without users."""
    data_file = layout.users
    if data_file is None:
        return None
    parse_user = _parse_100k_user if layout.format == FORMAT_100K else _parse_1m_user

    def parse(text, line_number):
        return parse_user(text, data_file.name, line_number)

    return read_table(files.table_lines(data_file), data_file.name, parse, 'user')


def _parse_100k_user(text: str, file_name: str, line_number: int) -> Tuple[str, User]:
    fields = [field.strip() for field in text.split('|')]
    if len(fields) != 5:
        raise table_error(file_name, line_number,
                          f'{quote(text)} has {len(fields)} fields; expected 5: '
                          'id|age|gender|occupation|zip code')
    user_id = table_id(fields[0], 'user', file_name, line_number)
    age_text, gender, occupation, zip_code = fields[1:]
    if not is_whole_number(age_text):
        raise table_error(file_name, line_number, f'age {quote(age_text)} is not a whole number')
    _check_gender(gender, file_name, line_number)
    age = int(age_text)
    return user_id, User(gender, bucketize_age(age), occupation, zip_code, age)


def _parse_1m_user(text: str, file_name: str, line_number: int) -> Tuple[str, User]:
    fields = [field.strip() for field in text.split('::')]
    if len(fields) != 5:
        raise table_error(file_name, line_number,
                          f'{quote(text)} has {len(fields)} fields; expected 5: '
                          'id::gender::age::occupation::zip code')
    user_id = table_id(fields[0], 'user', file_name, line_number)
    gender, age_text, occupation_text, zip_code = fields[1:]
    _check_gender(gender, file_name, line_number)
    if not (is_whole_number(age_text) and int(age_text) in features.AGE_BUCKETS):
        raise table_error(file_name, line_number,
                          f'age group {quote(age_text)} is not one of '
                          f'{", ".join(map(str, features.AGE_BUCKETS))}')
    if not (is_whole_number(occupation_text)
            and int(occupation_text) < len(_1M_OCCUPATIONS)):
        raise table_error(file_name, line_number,
                          f'occupation {quote(occupation_text)} is not a code 0..'
                          f'{len(_1M_OCCUPATIONS) - 1}')
    occupation = _1M_OCCUPATIONS[int(occupation_text)]
    return user_id, User(gender, int(age_text), occupation, zip_code, None)


def _check_gender(gender: str, file_name: str, line_number: int) -> None:
    if gender not in ('M', 'F'):
        raise table_error(file_name, line_number, f'gender {quote(gender)} is not M or F')


def read_tags(layout: Layout, limit: int) -> Dict[str, Tuple[str, ...]]:
    """The `limit` most frequent tags of each tagged movie; empty without a tags file."""
    data_file = layout.tags
    if data_file is None:
        return {}
    return tags.read_tags(data_file, files.table_lines(data_file),
                          csv_format=layout.separator is None, limit=limit)


class Shard(NamedTuple):
    """A run of whole lines of a ratings file: one unit of Beam work."""
    file: DataFile
    offset: int  # of the first line's first byte
    first_line: int  # 1-based
    num_lines: int
    role: str  # which rows these are, e.g. all ratings or a predefined test split


def plan_shards(data_file: DataFile, role: str,
                lines_per_shard: Optional[int] = None) -> List[Shard]:
    """Cuts a ratings file into shards of whole lines, in one streaming pass."""
    lines_per_shard = lines_per_shard or LINES_PER_SHARD
    shards = []
    shard_offset, shard_first_line, lines_in_shard = 0, 1, 0
    offset = 0  # of the current chunk
    last_byte = b''
    has_text = False
    with data_file.open() as stream:
        while True:
            chunk = stream.read(_CHUNK_BYTES)
            if not chunk:
                break
            has_text = has_text or bool(chunk.strip())
            position = 0
            while True:
                needed = lines_per_shard - lines_in_shard
                newlines = chunk.count(b'\n', position)
                if newlines < needed:
                    lines_in_shard += newlines
                    break
                for _ in range(needed):
                    position = chunk.index(b'\n', position) + 1
                shards.append(Shard(data_file, shard_offset, shard_first_line,
                                    lines_per_shard, role))
                shard_offset = offset + position
                shard_first_line += lines_per_shard
                lines_in_shard = 0
            offset += len(chunk)
            last_byte = chunk[-1:]
    if not has_text:
        raise BadInputError(
            f'{data_file.name} is empty: it holds no ratings. Point {DATA_DIR_FLAG} at a '
            'MovieLens folder or zip whose ratings file has rows.')
    if offset > shard_offset:
        # The lines after the last full shard; the very last may lack its '\n'.
        num_lines = lines_in_shard + (0 if last_byte == b'\n' else 1)
        shards.append(Shard(data_file, shard_offset, shard_first_line, num_lines, role))
    return shards


def read_shard(shard: Shard):
    """The non-blank lines of a shard as text, with their 1-based line numbers."""
    with shard.file.open() as stream:
        stream.seek(shard.offset)
        line_numbers = range(shard.first_line, shard.first_line + shard.num_lines)
        for line_number, raw in zip(line_numbers, stream):
            text = files.line_text(raw, line_number)
            if text.strip():
                yield line_number, text


def read_shard_columns(shard: Shard, release: Release) -> Optional[RatingColumns]:
    """The shard's ratings parsed in bulk (by Arrow's CSV reader), or None if it has a line
    that is not plain: then read_shard and RatingLines parse it a line at a time, which
    names a bad row, or skips it. A CSV file's header is checked as RatingLines checks it.

    A plain line holds only digits, the release's separator and a rating's decimal point
    (its LF aside; blank lines are skipped), and rates on the release's scale. A line that
    parses here parses to the same rating a line at a time; whether its movie and user are
    listed is for the caller to check.
    """
    with shard.file.open() as stream:
        stream.seek(shard.offset)
        lines = list(itertools.islice(stream, shard.num_lines))
    if release.separator is None and shard.first_line == 1 and lines:
        header = files.line_text(lines[0], 1)
        if not header.strip():
            return None  # read_shard skips a blank first line: the header is not there
        csv_tables.check_header(shard.file, header)
        del lines[0]
    text = b''.join(lines)
    separator = (release.separator or ',').encode('ascii')
    if text.translate(None, _PLAIN_BYTES + separator):
        return None  # bytes that a plain line does not hold
    if separator != b',':
        # Splitting on ',' what held no ',' splits where split(separator) would.
        text = text.replace(separator, b',')
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text),
            read_options=pa_csv.ReadOptions(column_names=_RATING_COLUMNS, use_threads=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict(zip(_RATING_COLUMNS,
                                      (pa.int64(), pa.int64(), pa.float64(), pa.int64()))),
                null_values=[]))
    except pa.ArrowInvalid:  # a field that is not a number, a line of 3 or 5 fields, ...
        return None
    ratings = table['rating'].to_numpy()
    if not RATING_SCALES[release.format].allows_all(ratings):
        return None
    return RatingColumns(table['user_id'].to_numpy(), table['movie_id'].to_numpy(), ratings,
                         table['timestamp'].to_numpy())


def parse_rating(text: str, separator: str) -> Union[Rating, str]:
    """One ratings line of the 100K, 1M or 10M format as a Rating, or the problem with it
    as a phrase for a message; RatingLines also checks the release's rating scale."""
    return _rating(text.split(separator), text,
                   f'separated by {_SEPARATOR_NAMES[separator]}')


def _rating(fields: List[str], text: str, layout_words: str,
            release: Optional[Release] = None) -> Union[Rating, str]:
    if len(fields) != 4:
        return (f'{quote(text)} has {len(fields)} fields; expected 4 (user id, movie id, '
                f'rating, timestamp) {layout_words}')
    user_text, movie_text, rating_text, timestamp_text = fields
    user_id = canonical_id(user_text)
    if user_id is None:
        return f'user id {quote(user_text)} is not a whole number'
    movie_id = canonical_id(movie_text)
    if movie_id is None:
        return f'movie id {quote(movie_text)} is not a whole number'
    try:
        rating = float(rating_text)
    except ValueError:
        rating = math.nan
    if not math.isfinite(rating):
        return f'rating {quote(rating_text)} is not a number'
    if release is not None:
        scale = RATING_SCALES[release.format]
        if not scale.min <= rating <= scale.max:
            return f'rating {quote(rating_text)} is outside {scale.min:g}..{scale.max:g}'
        if not scale.allows(rating):
            steps = 'whole stars' if scale.step == 1 else f'steps of {scale.step:g}'
            return (f'rating {quote(rating_text)} is not on the {release.name} scale, '
                    f'{scale.min:g} to {scale.max:g} in {steps}')
    timestamp = timestamp_text.strip()
    if not is_whole_number(timestamp):
        return (f'timestamp {quote(timestamp_text)} is not a whole number of seconds since '
                '1970')
    return Rating(user_id, movie_id, rating, int(timestamp))


class RatingLines:
    """Parses the lines of one release's ratings files, its rating scale included.

    Made where the lines are read (a Beam worker): the CSV parser it may hold is not
    picklable.
    """

    def __init__(self, data_format: str):
        self._release = RELEASES[data_format]
        separator = self._release.separator
        self._csv_fields = csv_tables.LineFields() if separator is None else None
        self._layout_words = ('separated by commas' if separator is None
                              else f'separated by {_SEPARATOR_NAMES[separator]}')

    def __call__(self, data_file: DataFile, line_number: int,
                 text: str) -> Union[Rating, str, None]:
        """The line's Rating; the problem with it as a phrase; or None for a header."""
        if self._csv_fields is None:
            fields = text.split(self._release.separator)
        elif line_number == 1:
            csv_tables.check_header(data_file, text)
            return None
        else:
            fields = self._csv_fields(text)
            if isinstance(fields, str):
                return fields
        return _rating(fields, text, self._layout_words, self._release)
