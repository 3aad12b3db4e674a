"""Small hand-written folders of the later MovieLens releases, for the ExampleGen's tests:
ML-10M (::-separated .dat files, tags.dat, no users file) and the CSV family (ratings.csv,
movies.csv, tags.csv with header lines, quoted fields, CRLF line endings).

Both hold the same movies and ratings, with what the real files have: half stars, a title
with a comma (quoted in CSV), one in double quotes, UTF-8 accents, two movies that share a
title, "(no genres listed)", IMAX, and tags in several spellings.
"""
import os
from typing import Dict, Sequence

# movie id: (title, genres as the file lists them)
MOVIES = {
    '1': ('Toy Story (1995)', 'Adventure|Animation|Children|Comedy|Fantasy'),
    '2': ('Misérables, Les (1995)', 'Drama|War'),
    '3': ('"Great Performances" Cats (1998)', 'Musical'),
    '4': ('Emma (1996)', 'Comedy|Drama|Romance'),
    '5': ('Emma (1996)', 'Romance'),
    '6': ('Pull My Daisy (1958)', '(no genres listed)'),
    '7': ('Everest (1998)', 'Documentary|IMAX'),
}
# (user, movie, rating as written, timestamp); the 10M file writes whole stars without '.0'.
RATINGS = [
    ('1', '1', '4.0', 964982703),
    ('1', '2', '3.5', 964981247),
    ('2', '4', '0.5', 1445714994),
    ('2', '5', '5.0', 1445715054),
    ('3', '6', '2.5', 1306463578),
    ('3', '7', '4.5', 1306463600),
    ('4', '3', '1.0', 1106635946),
    ('4', '1', '3.0', 1106635993),
]
# (user, movie, tag): Toy Story's most frequent tag is 'pixar' in any spelling, then the
# tags each applied once, alphabetically.
TAGS = [
    ('1', '1', 'pixar'),
    ('2', '1', 'Pixar'),
    ('3', '1', ' PIXAR '),
    ('3', '1', 'funny, clever'),
    ('4', '1', 'toys'),
    ('1', '7', 'IMAX'),
    ('2', '4', 'Jane Austen'),
    ('3', '4', 'jane austen'),
    ('4', '4', 'Gwyneth Paltrow'),
]
TAG_TIMESTAMP = 1139045764
# What the examples carry: canonical genres, and each movie's tags, most frequent first.
EXPECTED_GENRES = {
    '1': ['Adventure', 'Animation', 'Children', 'Comedy', 'Fantasy'],
    '2': ['Drama', 'War'], '3': ['Musical'], '4': ['Comedy', 'Drama', 'Romance'],
    '5': ['Romance'], '6': ['unknown'], '7': ['Documentary', 'IMAX'],
}
EXPECTED_TAGS = {'1': ['pixar', 'funny, clever', 'toys'], '4': ['jane austen', 'gwyneth paltrow'],
                 '7': ['imax']}


def _csv_field(value: str) -> str:
    """A field as RFC 4180 writes it: quoted if it holds a comma or a quote."""
    if ',' in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _write(path: str, lines: Sequence[str], line_ending: str) -> str:
    with open(path, 'w', encoding='utf-8', newline='') as stream:
        stream.write(''.join(line + line_ending for line in lines))
    return path


def csv_lines(ratings=None) -> Dict[str, list]:
    """The lines of ratings.csv, movies.csv and tags.csv, headers included."""
    ratings = RATINGS if ratings is None else ratings
    return {
        'ratings.csv': ['userId,movieId,rating,timestamp'] + [
            ','.join(map(str, row)) for row in ratings],
        'movies.csv': ['movieId,title,genres'] + [
            f'{movie_id},{_csv_field(title)},{genres}'
            for movie_id, (title, genres) in MOVIES.items()],
        'tags.csv': ['userId,movieId,tag,timestamp'] + [
            f'{user},{movie},{_csv_field(tag)},{TAG_TIMESTAMP}' for user, movie, tag in TAGS],
    }


def write_csv_release(directory: str, line_ending: str = '\r\n', **replaced) -> str:
    """A CSV-family folder; `replaced` maps a file name to its lines (None leaves it out)."""
    os.makedirs(directory, exist_ok=True)
    files = dict(csv_lines(), **{name.replace('_', '.'): lines
                                 for name, lines in replaced.items()})
    files.setdefault('links.csv', ['movieId,imdbId,tmdbId', '1,0114709,862'])
    for name, lines in files.items():
        if lines is not None:
            _write(os.path.join(directory, name), lines, line_ending)
    return directory


def dat_rating(user: str, movie: str, rating: str, timestamp: int) -> str:
    """A 10M ratings.dat line: whole stars without '.0', as GroupLens writes them."""
    return f'{user}::{movie}::{float(rating):g}::{timestamp}'


def dat_lines(ratings=None) -> Dict[str, list]:
    ratings = RATINGS if ratings is None else ratings
    return {
        'ratings.dat': [dat_rating(*row) for row in ratings],
        'movies.dat': [f'{movie_id}::{title}::{genres}'
                       for movie_id, (title, genres) in MOVIES.items()],
        'tags.dat': [f'{user}::{movie}::{tag}::{TAG_TIMESTAMP}' for user, movie, tag in TAGS],
    }


def write_10m_release(directory: str, **replaced) -> str:
    """An ML-10M folder; `replaced` maps a file name to its lines (None leaves it out)."""
    os.makedirs(directory, exist_ok=True)
    files = dict(dat_lines(), **{name.replace('_', '.'): lines
                                 for name, lines in replaced.items()})
    for name, lines in files.items():
        if lines is not None:
            _write(os.path.join(directory, name), lines, '\n')
    return directory
