"""Reads the GroupLens MovieLens files, 100K or 1M format, from a folder or a .zip.

The small movie and user tables are read whole, on the driver. The ratings file is only
planned here, as shards of whole lines; Beam workers parse the shards, so that tens of
millions of ratings never sit in one process's memory. Local paths are read with Python's
own file functions (the fastest); URIs such as gs://bucket/ml-100k through tf.io.gfile.
"""
import bisect
import contextlib
import dataclasses
import math
import os
import posixpath
import re
import zipfile
import zlib
from typing import BinaryIO, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple, Union

from components import filesystem
from components.movielens.contract import PREDEFINED_SPLITS
from components.movielens.errors import BadInputError, DATA_DIR_FLAG, SKIP_BAD_ROWS_FLAG, quote
from models import features

FORMAT_100K = '100k'
FORMAT_1M = '1m'


# The ratings are planned into shards of this many lines; a shard is one unit of Beam work.
LINES_PER_SHARD = 200_000
_CHUNK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class _Format:
    ratings: str
    movies: str
    users: str
    separator: str  # of the ratings file; the 100K tables use '|'
    # Matches the files TFX fingerprints to decide whether a cached run is still valid.
    fingerprint_pattern: str


_FORMATS = {
    FORMAT_100K: _Format('u.data', 'u.item', 'u.user', '\t', 'u*'),
    FORMAT_1M: _Format('ratings.dat', 'movies.dat', 'users.dat', '::', '*.dat'),
}
_SEPARATOR_NAMES = {'\t': 'tabs', '::': "'::'"}

# users.dat gives occupations as codes; TFDS spells them out with these names.
_1M_OCCUPATIONS = (
    'other/not specified', 'academic/educator', 'artist', 'clerical/admin',
    'college/grad student', 'customer service', 'doctor/health care',
    'executive/managerial', 'farmer', 'homemaker', 'K-12 student', 'lawyer', 'programmer',
    'retired', 'sales/marketing', 'scientist', 'self-employed', 'technician/engineer',
    'tradesman/craftsman', 'unemployed', 'writer')

_GENRES_BY_LOWER_NAME = {genre.lower(): genre for genre in features.GENRES}

# Any control character but tab: the mark of a file that is not latin-1 or UTF-8 text,
# such as UTF-16 (every other byte 0) or binary junk.
_CONTROL_CHARACTERS = re.compile('[\x00-\x08\x0a-\x1f\x7f]')

_TABLE_FIX = f'Fix the line ({SKIP_BAD_ROWS_FLAG} drops only bad rating rows).'


def _list_dir(path: str) -> Tuple[List[str], Dict[str, str]]:
    """The paths of a folder's sub-folders, and of its files by name."""
    if not filesystem.is_uri(path):
        entries = list(os.scandir(path))
        return ([entry.path for entry in entries if entry.is_dir()],
                {entry.name: entry.path for entry in entries if entry.is_file()})
    folders, files = [], {}
    for name in filesystem.listdir(path):
        child = filesystem.join(path, name)
        if filesystem.isdir(child):
            folders.append(child)
        else:
            files[name] = child
    return folders, files


def _is_zip(path: str) -> bool:
    with filesystem.open_binary(path) as stream:
        return zipfile.is_zipfile(stream)


def uri_input_location(data_path: str) -> Tuple[str, str]:
    """(input_base, pattern) of data behind a URI, found without reading it: the pipeline
    may be compiled where the bucket cannot be read. The executor checks it when it runs."""
    data_path = data_path.rstrip('/')
    if data_path.lower().endswith('.zip'):
        return posixpath.dirname(data_path), posixpath.basename(data_path)
    return data_path, '*'


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One file of a data set: a file on disk, or a member of a .zip."""
    path: str
    member: Optional[str] = None

    @property
    def name(self) -> str:
        """How messages name the file."""
        return self.path if self.member is None else f'{self.path}:{self.member}'

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """Opens the file for binary reading; a corrupt zip becomes a BadInputError."""
        if self.member is None:
            with filesystem.open_binary(self.path) as stream:
                yield stream
            return
        try:
            with filesystem.open_binary(self.path) as zip_stream, \
                    zipfile.ZipFile(zip_stream) as archive, archive.open(self.member) as stream:
                yield stream
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise corrupt_zip_error(self.path, error) from error


def corrupt_zip_error(path: str, error: Exception) -> BadInputError:
    return BadInputError(
        f'{path} is not a readable zip file: it is truncated or corrupt ({error}). Download '
        f'it again, or unzip a good copy and pass the folder with {DATA_DIR_FLAG}.')


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the files of one GroupLens data set are, and which format they are in."""
    format: str
    folder: str  # the folder (or zip folder) that holds the files, for messages
    files: Mapping[str, DataFile]  # every file of that folder, by base name
    input_base: str  # with input_pattern, the files TFX fingerprints for its cache
    input_pattern: str

    @property
    def ratings(self) -> DataFile:
        return self.files[_FORMATS[self.format].ratings]

    @property
    def movies(self) -> DataFile:
        return self.files[_FORMATS[self.format].movies]

    @property
    def users(self) -> DataFile:
        return self.files[_FORMATS[self.format].users]

    @property
    def separator(self) -> str:
        return _FORMATS[self.format].separator

    def predefined_split(self, name: str) -> Tuple[DataFile, DataFile]:
        """The (base, test) files of GroupLens' split `name`, e.g. u1.base and u1.test."""
        if name not in PREDEFINED_SPLITS:
            raise ValueError(f'predefined split {name!r} is not one of '
                             f'{", ".join(PREDEFINED_SPLITS)}')
        if self.format != FORMAT_100K:
            raise BadInputError(
                f'predefined split {name} needs {name}.base and {name}.test, which only the '
                f'100K format has; {self.folder} holds the {self.format.upper()} format. '
                'Drop the predefined split to split by hash.')
        missing = [f'{name}.{part}' for part in ('base', 'test')
                   if f'{name}.{part}' not in self.files]
        if missing:
            raise BadInputError(
                f'{" and ".join(missing)} not found in {self.folder}, which the predefined '
                f'split {name} needs. Point {DATA_DIR_FLAG} at the full ml-100k folder or zip.')
        return self.files[f'{name}.base'], self.files[f'{name}.test']


def locate(data_path: str) -> Layout:
    """Finds the GroupLens files in a folder, its single sub-folder, or a .zip."""
    if not filesystem.exists(data_path):
        raise BadInputError(
            f'{DATA_DIR_FLAG} {data_path} does not exist. Point {DATA_DIR_FLAG} at a MovieLens '
            'folder (ml-100k with u.data, or ml-1m with ratings.dat) or at its .zip.')
    in_zip = not filesystem.isdir(data_path)
    folders = _folders_in_zip(data_path) if in_zip else _folders_in_dir(data_path)
    folder, data_format = _choose_folder(data_path, folders)
    spec = _FORMATS[data_format]
    if in_zip:
        folder_name = f'{data_path}:{folder or "/"}'
        # TFX fingerprints the zip itself: its size and modification time.
        if filesystem.is_uri(data_path):
            input_base, input_pattern = uri_input_location(data_path)
        else:
            input_base = os.path.dirname(os.path.abspath(data_path))
            input_pattern = os.path.basename(data_path)
    else:
        folder_name = input_base = folder
        input_pattern = spec.fingerprint_pattern
    files = folders[folder]
    for needed in (spec.movies, spec.users):
        if needed not in files:
            raise BadInputError(
                f'{needed} is missing: {folder_name} holds {spec.ratings} but no {needed}. '
                f'Point {DATA_DIR_FLAG} at a complete MovieLens {data_format.upper()} folder '
                f'or zip ({spec.ratings}, {spec.movies} and {spec.users}).')
    return Layout(data_format, folder_name, files, input_base, input_pattern)


def _folders_in_dir(path: str) -> Dict[str, Dict[str, DataFile]]:
    """The files of `path` and of each of its sub-folders, by folder."""
    folders = {}
    for folder in [path] + _list_dir(path)[0]:
        folders[folder] = {name: DataFile(file_path)
                           for name, file_path in _list_dir(folder)[1].items()}
    return folders


def _folders_in_zip(path: str) -> Dict[str, Dict[str, DataFile]]:
    """The members of a zip, grouped by folder ('' for the top)."""
    if not path.lower().endswith('.zip') and not _is_zip(path):
        raise BadInputError(
            f'{DATA_DIR_FLAG} {path} is a file, not a folder or a .zip. Point {DATA_DIR_FLAG} '
            'at the folder that holds the MovieLens files (u.data or ratings.dat), or at the '
            'zip GroupLens ships.')
    try:
        with filesystem.open_binary(path) as stream, zipfile.ZipFile(stream) as archive:
            members = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise corrupt_zip_error(path, error) from error
    folders: Dict[str, Dict[str, DataFile]] = {}
    for member in members:
        folder, name = member.rpartition('/')[::2]
        folders.setdefault(folder, {})[name] = DataFile(path, member)
    return folders


def _choose_folder(data_path: str,
                   folders: Mapping[str, Mapping[str, DataFile]]) -> Tuple[str, str]:
    """The one folder that holds a ratings file, and its format."""
    candidates = []
    for folder, files in folders.items():
        formats = [name for name, spec in _FORMATS.items() if spec.ratings in files]
        if len(formats) > 1:
            raise BadInputError(
                f'{folder or data_path} holds both u.data (100K) and ratings.dat (1M). Point '
                f'{DATA_DIR_FLAG} at a folder with one MovieLens data set.')
        if formats:
            candidates.append((folder, formats[0]))
    top = data_path if filesystem.isdir(data_path) else ''
    for folder, data_format in candidates:
        if folder == top:
            return folder, data_format
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise BadInputError(
            f'no ratings file in {data_path}: looked for u.data (100K format) or ratings.dat '
            f'(1M format) there and in its sub-folders. Point {DATA_DIR_FLAG} at the ml-100k '
            'or ml-1m folder, or at its .zip.')
    raise BadInputError(
        f'{data_path} holds several MovieLens folders ({", ".join(f for f, _ in candidates)}). '
        f'Point {DATA_DIR_FLAG} at one of them.')


def _decode(raw: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8, else latin-1, which GroupLens ships."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return raw.decode('latin-1')


def _text(raw: bytes, line_number: int) -> str:
    """One line as text, without its line ending or a leading byte-order mark."""
    text = _decode(raw.rstrip(b'\r\n'))
    return text.lstrip('\ufeff') if line_number == 1 else text


def _table_lines(data_file: DataFile) -> Iterator[Tuple[int, str]]:
    """The non-blank lines of a movie or user file, with their 1-based numbers."""
    with data_file.open() as stream:
        for line_number, raw in enumerate(stream, start=1):
            text = _text(raw, line_number)
            if _CONTROL_CHARACTERS.search(text):
                raise BadInputError(
                    f'{data_file.name} line {line_number}: unreadable encoding: '
                    f'{quote(text)} holds control characters, so the file is not latin-1 or '
                    'UTF-8 text. Save it as latin-1 (as GroupLens ships it) or UTF-8.')
            if text.strip():
                yield line_number, text


def _table_error(data_file: DataFile, line_number: int, problem: str) -> BadInputError:
    return BadInputError(f'{data_file.name} line {line_number}: {problem}. {_TABLE_FIX}')


def _is_whole_number(text: str) -> bool:
    # isdigit() alone accepts digits such as '²' that int() rejects.
    return text.isascii() and text.isdigit()


def canonical_id(text: str) -> Optional[str]:
    """A movie or user id as the examples spell it ('042' -> '42'); None if not an id."""
    text = text.strip()
    return str(int(text)) if _is_whole_number(text) else None


def canonical_genre(name: str) -> str:
    """A genre as models.features spells it: "Children's" -> 'Children', 'Unknown' ->
    'unknown'; a genre it does not know is kept as it is."""
    if name == "Children's":
        name = 'Children'
    return _GENRES_BY_LOWER_NAME.get(name.lower(), name)


def bucketize_age(age: int) -> int:
    """The lower bound of the age's bucket in features.AGE_BUCKETS, as TFDS computes it."""
    index = bisect.bisect_right(features.AGE_BUCKETS, age) - 1
    return features.AGE_BUCKETS[max(index, 0)]


class Movie(NamedTuple):
    title: str
    genres: Tuple[str, ...]


class User(NamedTuple):
    gender: str
    bucketized_age: int
    occupation: str
    zip_code: str
    raw_age: Optional[int]  # None in the 1M format, which records only the bucket


def read_movies(layout: Layout) -> Dict[str, Movie]:
    """The movie file, by canonical movie id."""
    parse = _parse_100k_movie if layout.format == FORMAT_100K else _parse_1m_movie
    return _read_table(layout.movies, parse, 'movie')


def _read_table(data_file: DataFile, parse, kind: str) -> Dict:
    """A movie or user file, by canonical id; an id listed twice is an error."""
    rows: Dict = {}
    first_lines: Dict[str, int] = {}
    for line_number, text in _table_lines(data_file):
        row_id, row = parse(text, data_file, line_number)
        if row_id in rows:
            raise _table_error(data_file, line_number,
                               f'{kind} id {quote(row_id)} is listed a second time (first on '
                               f'line {first_lines[row_id]})')
        rows[row_id] = row
        first_lines[row_id] = line_number
    if not rows:
        raise BadInputError(f'{data_file.name} is empty: it lists no {kind}s. Point '
                            f'{DATA_DIR_FLAG} at a complete MovieLens folder or zip.')
    return rows


def _parse_100k_movie(text: str, data_file: DataFile, line_number: int) -> Tuple[str, Movie]:
    fields = text.split('|')
    if len(fields) != 5 + len(features.GENRES):
        raise _table_error(data_file, line_number,
                           f'{quote(text)} has {len(fields)} fields; expected 24: id|title|'
                           'release date|video release date|IMDb URL|19 genre flags')
    movie_id = _table_id(fields[0], 'movie', data_file, line_number)
    flags = fields[5:]
    for flag in flags:
        if flag not in ('0', '1'):
            raise _table_error(data_file, line_number, f'genre flag {quote(flag)} is not 0 or 1')
    genres = tuple(genre for genre, flag in zip(features.GENRES, flags) if flag == '1')
    return movie_id, Movie(fields[1], genres)


def _parse_1m_movie(text: str, data_file: DataFile, line_number: int) -> Tuple[str, Movie]:
    fields = text.split('::')
    if len(fields) != 3:
        raise _table_error(data_file, line_number,
                           f'{quote(text)} has {len(fields)} fields; expected 3: '
                           'id::title::genres')
    movie_id = _table_id(fields[0], 'movie', data_file, line_number)
    genres = tuple(canonical_genre(genre) for genre in fields[2].split('|') if genre)
    for genre in genres:
        if genre not in features.GENRES:
            raise _table_error(data_file, line_number,
                               f'genre {quote(genre)} is not a MovieLens genre')
    return movie_id, Movie(fields[1], genres)


def read_users(layout: Layout) -> Dict[str, User]:
    """The user file, by canonical user id."""
    parse = _parse_100k_user if layout.format == FORMAT_100K else _parse_1m_user
    return _read_table(layout.users, parse, 'user')


def _parse_100k_user(text: str, data_file: DataFile, line_number: int) -> Tuple[str, User]:
    fields = [field.strip() for field in text.split('|')]
    if len(fields) != 5:
        raise _table_error(data_file, line_number,
                           f'{quote(text)} has {len(fields)} fields; expected 5: '
                           'id|age|gender|occupation|zip code')
    user_id = _table_id(fields[0], 'user', data_file, line_number)
    age_text, gender, occupation, zip_code = fields[1:]
    if not _is_whole_number(age_text):
        raise _table_error(data_file, line_number, f'age {quote(age_text)} is not a whole number')
    _check_gender(gender, data_file, line_number)
    age = int(age_text)
    return user_id, User(gender, bucketize_age(age), occupation, zip_code, age)


def _parse_1m_user(text: str, data_file: DataFile, line_number: int) -> Tuple[str, User]:
    fields = [field.strip() for field in text.split('::')]
    if len(fields) != 5:
        raise _table_error(data_file, line_number,
                           f'{quote(text)} has {len(fields)} fields; expected 5: '
                           'id::gender::age::occupation::zip code')
    user_id = _table_id(fields[0], 'user', data_file, line_number)
    gender, age_text, occupation_text, zip_code = fields[1:]
    _check_gender(gender, data_file, line_number)
    if not (_is_whole_number(age_text) and int(age_text) in features.AGE_BUCKETS):
        raise _table_error(data_file, line_number,
                           f'age group {quote(age_text)} is not one of '
                           f'{", ".join(map(str, features.AGE_BUCKETS))}')
    if not (_is_whole_number(occupation_text)
            and int(occupation_text) < len(_1M_OCCUPATIONS)):
        raise _table_error(data_file, line_number,
                           f'occupation {quote(occupation_text)} is not a code 0..'
                           f'{len(_1M_OCCUPATIONS) - 1}')
    occupation = _1M_OCCUPATIONS[int(occupation_text)]
    return user_id, User(gender, int(age_text), occupation, zip_code, None)


def _table_id(text: str, kind: str, data_file: DataFile, line_number: int) -> str:
    table_id = canonical_id(text)
    if table_id is None:
        raise _table_error(data_file, line_number,
                           f'{kind} id {quote(text)} is not a whole number')
    return table_id


def _check_gender(gender: str, data_file: DataFile, line_number: int) -> None:
    if gender not in ('M', 'F'):
        raise _table_error(data_file, line_number, f'gender {quote(gender)} is not M or F')


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


def read_shard(shard: Shard) -> Iterator[Tuple[int, str]]:
    """The non-blank lines of a shard as text, with their 1-based line numbers."""
    with shard.file.open() as stream:
        stream.seek(shard.offset)
        line_numbers = range(shard.first_line, shard.first_line + shard.num_lines)
        for line_number, raw in zip(line_numbers, stream):
            text = _text(raw, line_number)
            if text.strip():
                yield line_number, text


class Rating(NamedTuple):
    user_id: str
    movie_id: str
    rating: float
    timestamp: int


def parse_rating(text: str, separator: str) -> Union[Rating, str]:
    """One ratings line as a Rating, or the problem with it as a phrase for a message."""
    fields = text.split(separator)
    if len(fields) != 4:
        return (f'{quote(text)} has {len(fields)} fields; expected 4 (user id, movie id, '
                f'rating, timestamp) separated by {_SEPARATOR_NAMES[separator]}')
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
    if not features.MIN_RATING <= rating <= features.MAX_RATING:
        return (f'rating {quote(rating_text)} is outside '
                f'{features.MIN_RATING:g}..{features.MAX_RATING:g}')
    timestamp = timestamp_text.strip()
    if not _is_whole_number(timestamp):
        return (f'timestamp {quote(timestamp_text)} is not a whole number of seconds since '
                '1970')
    return Rating(user_id, movie_id, rating, int(timestamp))
