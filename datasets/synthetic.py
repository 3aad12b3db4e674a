"""Writes synthetic MovieLens data in the files of any release's format, at any size.

For tests, benchmarks and runs without the real data. The data is shaped like MovieLens:
long-tailed movie popularity and user activity, every user with at least 20 ratings where
the size allows, and ratings that follow user and movie biases plus a low-rank user-movie
affinity plus noise, so that a model has something to learn. Everything is vectorised with
numpy and written block by block, so 10M ratings take seconds and modest memory.

Each format has its release's shape: 100K (u.data, u.item, u.user) and 1M (ratings.dat,
movies.dat, users.dat) rate in whole stars and have user features; 10M (ratings.dat,
movies.dat, tags.dat) and the CSV family (ratings.csv, movies.csv, tags.csv, with a header
line and quoted titles) rate in half stars, have no users file but tags, the IMAX genre,
movies with "(no genres listed)", and distinct movies that share a title.
"""
import csv
import json
import math
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from components.movielens import contract
from models import features

_MARKER = '.synthetic-grouplens.json'
# Bumped whenever the generator changes what it writes for the same parameters.
_GENERATOR_VERSION = 1

# (ratings, users, movies) of MovieLens-like sizes; other sizes interpolate log-log. The
# last two are ML-25M and ML-32M.
_SIZE_ANCHORS = ((100_000, 943, 1682), (1_000_000, 6040, 3952), (10_000_000, 60_000, 20_000),
                 (25_000_095, 162_541, 62_423), (32_000_204, 200_948, 87_585))
_MIN_RATINGS_PER_USER = 20
# A user rates at most this share of the movies, as the most active real users do.
_MAX_SHARE_OF_MOVIES = 0.5
_RATINGS_PER_BLOCK = 500_000

# Long tails: weight of the k-th most popular movie (most active user) ~ 1 / (k + offset)^power.
_MOVIE_POPULARITY = (1.0, 10.0)
_USER_ACTIVITY = (0.9, 30.0)

_LATENT_DIMENSIONS = 8
# With the biases, these come close to the real rating mix (6% 1s, 11% 2s, 27% 3s, 34% 4s,
# 21% 5s).
_RATING_INTERCEPT = 3.25
_RATING_NOISE = 0.8
# The span of each real release's timestamps.
_TIMESTAMP_SPANS = {contract.FORMAT_100K: (874724710, 893286638),
                    contract.FORMAT_1M: (956703932, 1046454590),
                    contract.FORMAT_10M: (789652009, 1231131736),
                    contract.FORMAT_CSV: (789652009, 1574327703)}
# With half stars, about a quarter of the real ratings are halves (3.5 and 4.5 the most).
_HALF_STAR_SHARE = 0.25

# The files each format writes, ratings first; and those of a predefined split.
_FILES = {contract.FORMAT_100K: ('u.data', 'u.item', 'u.user'),
          contract.FORMAT_1M: ('ratings.dat', 'movies.dat', 'users.dat'),
          contract.FORMAT_10M: ('ratings.dat', 'movies.dat', 'tags.dat'),
          contract.FORMAT_CSV: ('ratings.csv', 'movies.csv', 'tags.csv')}
_SPLIT_FILES = {contract.FORMAT_100K: ('u1.base', 'u1.test'),
                contract.FORMAT_10M: ('r1.train', 'r1.test')}
_ALL_FILES = {name for names in (*_FILES.values(), *_SPLIT_FILES.values()) for name in names}
# The older releases ship latin-1 text, the later ones UTF-8.
_ENCODINGS = {contract.FORMAT_100K: 'latin-1', contract.FORMAT_1M: 'latin-1',
              contract.FORMAT_10M: 'utf-8', contract.FORMAT_CSV: 'utf-8'}
_CSV_HEADERS = {'ratings.csv': 'userId,movieId,rating,timestamp',
                'movies.csv': 'movieId,title,genres',
                'tags.csv': 'userId,movieId,tag,timestamp'}
# Occupation codes of users.dat (1M), for the 100K occupations drawn here.
_1M_OCCUPATION_CODES = {
    'administrator': 3, 'artist': 2, 'doctor': 6, 'educator': 1, 'engineer': 17,
    'entertainment': 0, 'executive': 7, 'healthcare': 6, 'homemaker': 9, 'lawyer': 11,
    'librarian': 0, 'marketing': 14, 'none': 0, 'other': 0, 'programmer': 12, 'retired': 13,
    'salesman': 14, 'scientist': 15, 'student': 4, 'technician': 17, 'writer': 20}

# The later releases' quirks, on every n-th movie: a title shared with the movie before it
# (a remake of the same year, as in the real data), a title in double quotes (the CSV writer
# quotes them), no genres, and the IMAX genre.
_SHARED_TITLE_EVERY = 89
_QUOTED_TITLE_EVERY = 53
_NO_GENRES_EVERY = 151
_IMAX_EVERY = 37
# About one tag row for every 23 ratings, as in ML-25M; the same tag in several spellings,
# some with a comma or quotes.
_RATINGS_PER_TAG = 23
_TAGS = ('Pixar', 'pixar', 'based on a book', 'Based on a book', 'Tom Hanks', 'tom hanks',
         'twist ending', 'atmospheric', 'funny, dark', 'sci-fi', 'visually appealing',
         'classic', '"classic"', 'dystopia', 'Oscar (Best Picture)', 'quirky', 'slow')

# The occupations of the 100K format.
_OCCUPATIONS = (
    'administrator', 'artist', 'doctor', 'educator', 'engineer', 'entertainment',
    'executive', 'healthcare', 'homemaker', 'lawyer', 'librarian', 'marketing', 'none',
    'other', 'programmer', 'retired', 'salesman', 'scientist', 'student', 'technician',
    'writer')
_OCCUPATION_WEIGHTS = (79, 28, 7, 95, 67, 18, 32, 16, 7, 12, 51, 26, 9, 105, 66, 14, 12,
                       31, 196, 27, 45)
_TITLE_WORDS = (
    ('The', 'A', 'Last', 'Silent', 'Red', 'Lost', 'Dark', 'Little', 'Great', 'Wild',
     'Broken', 'Golden', 'Secret', 'Long', 'Cold', 'Hidden'),
    ('River', 'Night', 'Summer', 'City', 'Game', 'Road', 'Heart', 'Garden', 'Kingdom',
     'Island', 'Mirror', 'Storm', 'Letter', 'Station', 'Dream', 'Witness'))
# Titles that GroupLens' latin-1 must carry: the writer and the readers are tested on them.
_ACCENTED_TITLES = ('Misérables, Les', 'Amélie', 'Cité des enfants perdus, La',
                    'Être et avoir', 'Señor Peñalosa', 'Smörgåsbord', "Garçon d'honneur",
                    'Crème brûlée', 'Fräulein Müller', 'São Paulo Blues')
_ACCENTED_TITLE_EVERY = 97  # movie ids 1, 98, 195, ... get an accented title

# Genre effects on a movie's mean rating, roughly as in the real data.
_GENRE_BIAS = {'Film-Noir': 0.35, 'War': 0.3, 'Documentary': 0.25, 'Drama': 0.15,
               'Horror': -0.3, 'Children': -0.2, 'Fantasy': -0.15, 'unknown': -0.3}


def default_sizes(num_ratings: int) -> Tuple[int, int]:
    """(users, movies) of a MovieLens-like data set with num_ratings ratings."""
    logs = np.log(np.array(_SIZE_ANCHORS, dtype=np.float64))
    target = math.log(max(num_ratings, 1))
    # The segment that holds the target, or the nearest one to extrapolate along.
    segment = int(np.clip(np.searchsorted(logs[:, 0], target) - 1, 0, len(logs) - 2))
    low, high = logs[segment], logs[segment + 1]
    fraction = (target - low[0]) / (high[0] - low[0])
    users, movies = np.exp(low[1:] + fraction * (high[1:] - low[1:]))
    return max(int(round(users)), 2), max(int(round(movies)), 2)


def write_grouplens(directory: str, num_ratings: int, seed: int = 0,
                    num_users: Optional[int] = None, num_movies: Optional[int] = None,
                    predefined_splits: bool = False,
                    data_format: str = contract.FORMAT_100K) -> str:
    """Writes the files of `data_format` (one of contract.FORMATS); returns the directory.

    100k writes u.data, u.item (latin-1), u.user and, with predefined_splits, u1.base and
    u1.test; 1m ratings.dat, movies.dat (latin-1), users.dat; 10m ratings.dat, movies.dat,
    tags.dat and, with predefined_splits, r1.train and r1.test; csv ratings.csv, movies.csv
    and tags.csv (UTF-8). The same arguments write the same bytes. A directory that already
    holds this very data is left untouched, so that TFX's fingerprint (which includes
    modification times) stays valid and cached runs are reused.
    """
    default_users, default_movies = default_sizes(num_ratings)
    num_users = num_users or default_users
    num_movies = num_movies or default_movies
    if data_format not in _FILES:
        raise ValueError(f'data_format {data_format!r} is not one of {", ".join(_FILES)}')
    if predefined_splits and data_format not in _SPLIT_FILES:
        raise ValueError(f'the {data_format} format has no predefined splits; only '
                         f'{" and ".join(_SPLIT_FILES)} have')
    if num_ratings < 1:
        raise ValueError(f'num_ratings must be positive, not {num_ratings}')
    if num_users * num_movies * _MAX_SHARE_OF_MOVIES < num_ratings:
        raise ValueError(f'{num_users} users and {num_movies} movies are too few for '
                         f'{num_ratings} distinct ratings')
    parameters = {'generator_version': _GENERATOR_VERSION, 'num_ratings': num_ratings,
                  'seed': seed, 'num_users': num_users, 'num_movies': num_movies,
                  'predefined_splits': predefined_splits, 'format': data_format}
    file_names = list(_FILES[data_format])
    if predefined_splits:
        file_names += _SPLIT_FILES[data_format]
    os.makedirs(directory, exist_ok=True)
    previous = _read_marker(directory)
    if previous == parameters and all(
            os.path.exists(os.path.join(directory, name)) for name in file_names):
        return directory
    foreign = [name for name in _ALL_FILES if os.path.exists(os.path.join(directory, name))]
    if previous is None and foreign:
        raise FileExistsError(f'{directory} holds a {foreign[0]} that write_grouplens did not '
                              'write; it will not overwrite it. Pick an empty directory.')
    _Writer(directory, parameters).write(file_names)
    return directory


def _read_marker(directory: str) -> Optional[Dict]:
    try:
        with open(os.path.join(directory, _MARKER), encoding='utf-8') as marker:
            return json.load(marker)
    except (OSError, ValueError):
        return None


def _long_tail(count: int, power: float, offset: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like probabilities over `count` items in random order (id is not rank)."""
    weights = 1.0 / (np.arange(count) + offset) ** power
    return rng.permutation(weights / weights.sum())


class _Writer:
    """Generates the data from the parameters and writes the files."""

    def __init__(self, directory: str, parameters: Dict):
        self._directory = directory
        self._parameters = parameters
        self._format = parameters['format']
        self._rng = np.random.default_rng(parameters['seed'])
        # Draws that only the later formats make come from their own generator, so that the
        # 100K files stay what they are for the same seed.
        self._later_rng = np.random.default_rng([parameters['seed'], 1])
        self._num_users = parameters['num_users']
        self._num_movies = parameters['num_movies']

    def write(self, file_names: Sequence[str]) -> None:
        rng = self._rng
        users = self._users()
        movies = self._movies()
        popularity = _long_tail(self._num_movies, *_MOVIE_POPULARITY, rng)
        activity = _long_tail(self._num_users, *_USER_ACTIVITY, rng)
        self._user_bias, self._user_factors = self._user_effects(users)
        self._movie_bias, self._movie_factors = self._movie_effects(movies, popularity)
        counts = self._ratings_per_user(activity)
        paths = {name: os.path.join(self._directory, f'.{name}.partial') for name in file_names}
        streams = {name: open(path, 'w', encoding=_ENCODINGS[self._format], newline='\n')
                   for name, path in paths.items()}
        ratings_file, movies_file, third_file = _FILES[self._format]
        try:
            for name in file_names:
                if name in _CSV_HEADERS:
                    streams[name].write(_CSV_HEADERS[name] + '\n')
            self._write_movies(streams[movies_file], movies)
            if third_file in ('u.user', 'users.dat'):
                self._write_users(streams[third_file], users)
            for block in self._blocks(counts, popularity):
                self._write_ratings(streams, block)
            if third_file in ('tags.dat', 'tags.csv'):
                self._write_tags(streams[third_file], popularity, activity)
        finally:
            for stream in streams.values():
                stream.close()
        # Without the marker, a crash while replacing cannot pass off a mix as this data.
        marker_path = os.path.join(self._directory, _MARKER)
        if os.path.exists(marker_path):
            os.remove(marker_path)
        for name, path in paths.items():
            os.replace(path, os.path.join(self._directory, name))
        for stale in _ALL_FILES - set(paths):
            if os.path.exists(os.path.join(self._directory, stale)):
                os.remove(os.path.join(self._directory, stale))
        with open(marker_path, 'w', encoding='utf-8') as marker:
            json.dump(self._parameters, marker, sort_keys=True)

    def _users(self) -> Dict[str, np.ndarray]:
        rng, count = self._rng, self._num_users
        occupation_weights = np.array(_OCCUPATION_WEIGHTS, dtype=np.float64)
        return {
            'age': np.clip(np.rint(rng.normal(33, 12, count)), 7, 73).astype(np.int64),
            'female': rng.random(count) < 0.29,
            'occupation': rng.choice(len(_OCCUPATIONS), count,
                                     p=occupation_weights / occupation_weights.sum()),
            'zip': rng.integers(0, 100_000, count),
        }

    def _movies(self) -> Dict[str, np.ndarray]:
        rng, count = self._rng, self._num_movies
        genre_count = len(features.GENRES)
        # Every movie gets a real genre; u.item keeps 'unknown' (index 0) for the few
        # movies without one.
        genre_weights = np.ones(genre_count - 1)
        genre_weights[[features.GENRES.index(g) - 1 for g in ('Drama', 'Comedy')]] = 6
        genre_weights[[features.GENRES.index(g) - 1 for g in ('Action', 'Thriller')]] = 3
        genre_flags = np.zeros((count, genre_count), dtype=bool)
        first = rng.choice(genre_count - 1, count, p=genre_weights / genre_weights.sum()) + 1
        genre_flags[np.arange(count), first] = True
        second = rng.integers(1, genre_count, count)
        genre_flags[np.arange(count), second] |= rng.random(count) < 0.5
        return {
            'genres': genre_flags,
            'year': rng.integers(1930, 1999, count),
            'words': rng.integers(0, len(_TITLE_WORDS[0]), (count, 2)),
        }

    def _user_effects(self, users: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        rng = self._rng
        bias = (rng.normal(0, 0.45, self._num_users) + 0.006 * (users['age'] - 33) +
                0.05 * users['female'])
        return bias, self._factors(self._num_users)

    def _movie_effects(self, movies: Dict[str, np.ndarray],
                       popularity: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        rng = self._rng
        genre_bias = np.array([_GENRE_BIAS.get(genre, 0.0) for genre in features.GENRES])
        log_popularity = np.log(popularity)
        # Popular movies are rated higher: part of why popularity is worth learning.
        bias = (rng.normal(0, 0.4, self._num_movies) +
                0.25 * (log_popularity - log_popularity.mean()) / log_popularity.std() +
                movies['genres'] @ genre_bias / np.maximum(movies['genres'].sum(axis=1), 1))
        return bias, self._factors(self._num_movies)

    def _factors(self, count: int) -> np.ndarray:
        # Scaled so that a user-movie affinity has a standard deviation of about 0.6.
        scale = (0.6 ** 2 / _LATENT_DIMENSIONS) ** 0.25
        return self._rng.normal(0, scale, (count, _LATENT_DIMENSIONS)).astype(np.float32)

    def _ratings_per_user(self, activity: np.ndarray) -> np.ndarray:
        """How many movies each user rates: a minimum, plus a long-tailed share of the
        rest, capped at a share of all movies."""
        num_ratings = self._parameters['num_ratings']
        cap = max(1, int(self._num_movies * _MAX_SHARE_OF_MOVIES))
        minimum = min(_MIN_RATINGS_PER_USER, num_ratings // self._num_users, cap)
        counts = minimum + self._rng.multinomial(num_ratings - minimum * self._num_users,
                                                 activity)
        while counts.max() > cap:
            excess = int(np.maximum(counts - cap, 0).sum())
            counts = np.minimum(counts, cap)
            room = activity * (counts < cap)
            counts += self._rng.multinomial(excess, room / room.sum())
        return counts

    def _blocks(self, counts: np.ndarray, popularity: np.ndarray) -> Iterator[np.ndarray]:
        """(user, movie) index pairs as codes user * num_movies + movie, sorted, in blocks
        of consecutive users of about _RATINGS_PER_BLOCK ratings."""
        boundaries = np.searchsorted(np.cumsum(counts),
                                     np.arange(_RATINGS_PER_BLOCK, counts.sum(),
                                               _RATINGS_PER_BLOCK), side='right')
        cumulative = np.cumsum(popularity)
        cumulative /= cumulative[-1]
        starts = [0] + sorted(set(boundaries.tolist()) - {0, len(counts)})
        for start, end in zip(starts, starts[1:] + [len(counts)]):
            yield self._distinct_movies(start, counts[start:end], cumulative)

    def _distinct_movies(self, first_user: int, needed: np.ndarray,
                         cumulative_popularity: np.ndarray) -> np.ndarray:
        """Draws needed[i] distinct movies for user first_user + i, by popularity.

        Draws with replacement and drops repeats, drawing more for the users still short,
        twice as many each round, so that even the most active users finish in a few
        rounds; then keeps a random `needed` of each user's movies.
        """
        rng, num_movies = self._rng, self._num_movies
        users = np.arange(first_user, first_user + len(needed), dtype=np.int64)
        codes = np.empty(0, dtype=np.int64)
        have = np.zeros_like(needed)
        missing, oversampling = needed, 1.25
        while missing.any():
            draws = np.ceil(missing * oversampling).astype(np.int64)
            drawn_users = np.repeat(users, draws)
            drawn_movies = np.searchsorted(cumulative_popularity, rng.random(drawn_users.size),
                                           side='right')
            drawn_movies = np.minimum(drawn_movies, num_movies - 1)  # float round-off
            codes = np.unique(np.concatenate([codes, drawn_users * num_movies + drawn_movies]))
            have = np.bincount(codes // num_movies - first_user, minlength=len(needed))
            missing = np.maximum(needed - have, 0)
            oversampling *= 2
        owner = codes // num_movies - first_user
        order = np.lexsort((rng.random(codes.size), owner))
        codes, owner = codes[order], owner[order]
        rank = np.arange(codes.size) - (np.cumsum(have) - have)[owner]
        return np.sort(codes[rank < needed[owner]])

    def _write_ratings(self, streams: Dict, codes: np.ndarray) -> None:
        rng, count = self._rng, codes.size
        users, movies = np.divmod(codes, self._num_movies)
        affinity = np.einsum('ij,ij->i', self._user_factors[users], self._movie_factors[movies])
        score = (_RATING_INTERCEPT + self._user_bias[users] + self._movie_bias[movies] + affinity +
                 rng.normal(0, _RATING_NOISE, count))
        scale = contract.RATING_SCALES[self._format]
        ratings = np.clip(np.rint(score), math.ceil(scale.min), scale.max)
        if scale.step < 1:
            halves = np.clip(np.round(score / scale.step) * scale.step, scale.min, scale.max)
            ratings = np.where(rng.random(count) < _HALF_STAR_SHARE, halves, ratings)
        first, last = _TIMESTAMP_SPANS[self._format]
        timestamps = rng.integers(first, last + 1, count)
        columns = (users + 1, movies + 1, ratings, timestamps)
        ratings_file = _FILES[self._format][0]
        row_format = self._rating_row_format()
        split_files = _SPLIT_FILES.get(self._format, ())
        if split_files and split_files[0] in streams:
            # GroupLens' test files hold a fifth of the ratings; both files sorted by user and
            # movie.
            in_test = rng.random(count) < 0.2
            _write_rows(streams[split_files[0]], row_format,
                        [column[~in_test] for column in columns])
            _write_rows(streams[split_files[1]], row_format,
                        [column[in_test] for column in columns])
        # The ratings file is in no particular order, like the real ones.
        order = rng.permutation(count)
        _write_rows(streams[ratings_file], row_format, [column[order] for column in columns])

    def _rating_row_format(self) -> str:
        """How a (user, movie, rating, timestamp) row is written: ratings as the release
        spells them (4 in the .dat files, 4.0 in ratings.csv)."""
        return {contract.FORMAT_100K: '%d\t%d\t%d\t%d', contract.FORMAT_1M: '%d::%d::%d::%d',
                contract.FORMAT_10M: '%d::%d::%g::%d',
                contract.FORMAT_CSV: '%d,%d,%.1f,%d'}[self._format]

    def _write_users(self, stream, users: Dict[str, np.ndarray]) -> None:
        for index in range(self._num_users):
            gender = 'F' if users['female'][index] else 'M'
            occupation = _OCCUPATIONS[users['occupation'][index]]
            age = users['age'][index]
            if self._format == contract.FORMAT_100K:
                stream.write(f'{index + 1}|{age}|{gender}|{occupation}|'
                             f'{users["zip"][index]:05d}\n')
            else:
                bucket = max(bound for bound in features.AGE_BUCKETS if bound <= age)
                stream.write(f'{index + 1}::{gender}::{bucket}::'
                             f'{_1M_OCCUPATION_CODES[occupation]}::{users["zip"][index]:05d}\n')

    def _movie_title(self, movies: Dict[str, np.ndarray], index: int) -> str:
        later = self._format in (contract.FORMAT_10M, contract.FORMAT_CSV)
        if later and index % _SHARED_TITLE_EVERY == _SHARED_TITLE_EVERY - 1:
            return self._movie_title(movies, index - 1)
        movie_id = index + 1
        year = movies['year'][index]
        if index % _ACCENTED_TITLE_EVERY == 0:
            name = _ACCENTED_TITLES[index // _ACCENTED_TITLE_EVERY % len(_ACCENTED_TITLES)]
        else:
            first, second = movies['words'][index]
            name = f'{_TITLE_WORDS[0][first]} {_TITLE_WORDS[1][second]} {movie_id}'
            if later and index % _QUOTED_TITLE_EVERY == 1:
                name = f'"{_TITLE_WORDS[0][first]}" {_TITLE_WORDS[1][second]} {movie_id}'
        return f'{name} ({year})'

    def _movie_genres(self, movies: Dict[str, np.ndarray], index: int) -> List[str]:
        genres = [genre for genre, flag in zip(features.GENRES, movies['genres'][index]) if flag]
        if self._format == contract.FORMAT_1M:
            return ["Children's" if genre == 'Children' else genre for genre in genres]
        if index % _NO_GENRES_EVERY == _NO_GENRES_EVERY - 1:
            return ['(no genres listed)']
        if index % _IMAX_EVERY == _IMAX_EVERY - 1:
            genres.append('IMAX')
        return genres

    def _write_movies(self, stream, movies: Dict[str, np.ndarray]) -> None:
        writer = csv.writer(stream, lineterminator='\n')
        for index in range(self._num_movies):
            movie_id = index + 1
            title = self._movie_title(movies, index)
            if self._format == contract.FORMAT_100K:
                year = movies['year'][index]
                flags = movies['genres'][index].astype(np.int8)
                genre_flags = '|'.join(map(str, flags.tolist()))
                stream.write(f'{movie_id}|{title}|01-Jan-{year}||'
                             f'http://example.com/movie/{movie_id}|{genre_flags}\n')
            elif self._format == contract.FORMAT_CSV:
                writer.writerow([movie_id, title, '|'.join(self._movie_genres(movies, index))])
            else:
                stream.write(f'{movie_id}::{title}::'
                             f'{"|".join(self._movie_genres(movies, index))}\n')

    def _write_tags(self, stream, popularity: np.ndarray, activity: np.ndarray) -> None:
        """Tag rows: popular movies and active users tag the most."""
        rng = self._later_rng
        count = max(1, self._parameters['num_ratings'] // _RATINGS_PER_TAG)
        users = rng.choice(self._num_users, count, p=activity) + 1
        movies = rng.choice(self._num_movies, count, p=popularity) + 1
        # A movie's tags lean towards a few of its own, so that it has a most frequent tag.
        tags = (movies * 7 + rng.geometric(0.5, count)) % len(_TAGS)
        first, last = _TIMESTAMP_SPANS[self._format]
        timestamps = rng.integers(first, last + 1, count)
        rows = zip(users.tolist(), movies.tolist(), (_TAGS[tag] for tag in tags.tolist()),
                   timestamps.tolist())
        if self._format == contract.FORMAT_CSV:
            csv.writer(stream, lineterminator='\n').writerows(rows)
        else:
            stream.writelines(f'{user}::{movie}::{tag}::{timestamp}\n'
                              for user, movie, tag, timestamp in rows)


def _write_rows(stream, row_format: str, columns: List[np.ndarray]) -> None:
    if not columns[0].size:
        return
    stream.write('\n'.join(map(row_format.__mod__,
                               zip(*(column.tolist() for column in columns)))))
    stream.write('\n')
