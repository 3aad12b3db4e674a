"""The CSV family's files (ratings.csv, movies.csv, tags.csv), split into fields by Python's
csv module.

Titles and tags may hold commas and quotes, quoted as RFC 4180 says, so a line is never split
on commas by hand. Each line is parsed on its own: a stray quote then makes that one line bad,
where a reader over the whole file would take the lines after it into one quoted field.
"""
import csv
from typing import Dict, Iterable, Iterator, List, Tuple, Union

from components.movielens import rows
from components.movielens.errors import BadInputError, DATA_DIR_FLAG, quote
from components.movielens.files import DataFile
from components.movielens.rows import Movie

# The header line each file starts with.
HEADERS = {
    'ratings.csv': ('userId', 'movieId', 'rating', 'timestamp'),
    'movies.csv': ('movieId', 'title', 'genres'),
    'tags.csv': ('userId', 'movieId', 'tag', 'timestamp'),
}


class LineFields:
    """Splits one CSV line at a time into its fields.

    One csv.reader serves every line: it is fed the next line only when called, and a
    quoted field that runs past the end of the line finds no further line to take.
    """

    def __init__(self):
        self._line = None
        self._reader = csv.reader(self, strict=True)

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line, self._line = self._line, None
        if line is None:
            raise StopIteration
        return line

    def __call__(self, text: str) -> Union[List[str], str]:
        """The fields of the line, or what is wrong with it as a phrase for a message."""
        self._line = text
        try:
            return next(self._reader)
        except csv.Error as error:
            return f'{quote(text)} is not a valid CSV line ({error})'
        except StopIteration:
            return []


def check_header(data_file: DataFile, text: str, line_number: int = 1) -> None:
    """Fails unless `text`, the file's first line, is the header of its kind of file."""
    expected = HEADERS[data_file.base_name]
    fields = LineFields()(text)
    if isinstance(fields, str) or tuple(field.strip() for field in fields) != expected:
        raise BadInputError(
            f'{data_file.name} line {line_number}: {quote(text)} is not the header '
            f'{",".join(expected)} that the CSV releases start the file with. Point '
            f'{DATA_DIR_FLAG} at an unchanged copy of the release.')


def body_lines(data_file: DataFile,
               lines: Iterable[Tuple[int, str]]) -> Iterator[Tuple[int, str]]:
    """The lines after the header (the first line), which is checked."""
    lines = iter(lines)
    for line_number, text in lines:
        check_header(data_file, text, line_number)
        break
    yield from lines


def read_movies(data_file: DataFile, lines: Iterable[Tuple[int, str]]) -> Dict[str, Movie]:
    """movies.csv, by canonical movie id, from its (line number, text) lines."""
    split = LineFields()

    def parse(text: str, line_number: int) -> Tuple[str, Movie]:
        fields = split(text)
        if isinstance(fields, str):
            raise rows.table_error(data_file.name, line_number, fields)
        if len(fields) != 3:
            raise rows.table_error(
                data_file.name, line_number,
                f'{quote(text)} has {len(fields)} fields; expected 3: movieId,title,genres '
                '(a title with a comma must be in double quotes)')
        movie_id = rows.table_id(fields[0], 'movie', data_file.name, line_number)
        genres = rows.known_genres(fields[2].split('|'), data_file.name, line_number)
        return movie_id, Movie(fields[1], genres)

    return rows.read_table(body_lines(data_file, lines), data_file.name, parse, 'movie')
