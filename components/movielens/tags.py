"""The tags users applied to movies (tags.dat in ML-10M, tags.csv in the CSV family), made
into a short list per movie: its most frequent tags, lowercased.

A tag is free text that one user applied to one movie ("pixar", "Tom Hanks", "based on a
book"). Counted over all users, a movie's most frequent tags describe it as a genre list does,
in words users chose. The file is read on the driver, like the movie table: ML-25M has about
a million tag rows, counted per movie and tag; only the top few of each movie are kept.
"""
import collections
import sys
from typing import Dict, Iterable, Tuple

from components.movielens import csv_tables, rows
from components.movielens.errors import quote
from components.movielens.files import DataFile


def normalise(tag: str) -> str:
    """'  Tom   Hanks ' -> 'tom hanks': users spell the same tag in many ways."""
    return ' '.join(tag.lower().split())


def read_tags(data_file: DataFile, lines: Iterable[Tuple[int, str]], csv_format: bool,
              limit: int) -> Dict[str, Tuple[str, ...]]:
    """The `limit` most frequent tags of each tagged movie, by canonical movie id, most
    frequent first (ties in alphabetical order).

    lines: the file's (line number, text) lines. csv_format: tags.csv (with a header, fields
    by the csv module), else tags.dat (UserID::MovieID::Tag::Timestamp).
    """
    counts: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    if csv_format:
        split = csv_tables.LineFields()
        lines = csv_tables.body_lines(data_file, lines)
    for line_number, text in lines:
        if csv_format:
            fields = split(text)
            if isinstance(fields, str):
                raise rows.table_error(data_file.name, line_number, fields)
            if len(fields) != 4:
                raise rows.table_error(
                    data_file.name, line_number,
                    f'{quote(text)} has {len(fields)} fields; expected 4: userId,movieId,tag,'
                    'timestamp (a tag with a comma must be in double quotes)')
            movie_text, tag = fields[1], fields[2]
        else:
            fields = text.split('::')
            if len(fields) < 4:
                raise rows.table_error(
                    data_file.name, line_number,
                    f'{quote(text)} has {len(fields)} fields; expected 4: '
                    'UserID::MovieID::Tag::Timestamp')
            # A tag may itself hold '::'; the ids and the timestamp cannot.
            movie_text, tag = fields[1], '::'.join(fields[2:-1])
        movie_id = rows.table_id(movie_text, 'movie', data_file.name, line_number)
        tag = normalise(tag)
        if tag:
            # Interned: the same few thousand tags recur on many movies.
            counts[movie_id][sys.intern(tag)] += 1
    return {movie_id: tuple(tag for tag, _ in sorted(
                tag_counts.items(), key=lambda item: (-item[1], item[0]))[:limit])
            for movie_id, tag_counts in counts.items()}
