"""The synthetic generator in each release's format: the files each release has, half stars
where the release has them, no users file, tags, shared titles and CSV quoting, as the
ExampleGen's readers see them."""
import collections
import csv
import os

import numpy as np
import pytest

from components.movielens import contract, grouplens
from datasets import synthetic

NUM_RATINGS = 20_000


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    return {data_format: synthetic.write_grouplens(
        str(tmp_path_factory.mktemp(data_format)), NUM_RATINGS, seed=5,
        data_format=data_format, predefined_splits=data_format in ('100k', '10m'))
        for data_format in contract.FORMATS}


def ratings_of(folder, data_format):
    """The (user, movie, rating, timestamp) rows, parsed as the ExampleGen parses them."""
    layout = grouplens.locate(folder)
    parse = grouplens.RatingLines(data_format)
    rows = [parse(layout.ratings, number, text) for shard in grouplens.plan_shards(
        layout.ratings, 'all') for number, text in grouplens.read_shard(shard)]
    assert not [row for row in rows if isinstance(row, str)], 'every row is good'
    return [row for row in rows if row is not None]


def test_each_format_writes_its_release_files(folders):
    expected = {'100k': {'u.data', 'u.item', 'u.user', 'u1.base', 'u1.test'},
                '1m': {'ratings.dat', 'movies.dat', 'users.dat'},
                '10m': {'ratings.dat', 'movies.dat', 'tags.dat', 'r1.train', 'r1.test'},
                'csv': {'ratings.csv', 'movies.csv', 'tags.csv'}}
    for data_format, folder in folders.items():
        names = {name for name in os.listdir(folder) if not name.startswith('.')}
        assert names == expected[data_format]
        assert grouplens.locate(folder).format == data_format


@pytest.mark.parametrize('data_format', contract.FORMATS)
def test_ratings_are_on_the_release_scale_and_count(folders, data_format):
    ratings = ratings_of(folders[data_format], data_format)
    assert len(ratings) == NUM_RATINGS
    assert len({(row.user_id, row.movie_id) for row in ratings}) == NUM_RATINGS
    values = collections.Counter(row.rating for row in ratings)
    if contract.RATING_SCALES[data_format].step == 1:
        assert set(values) == {1.0, 2.0, 3.0, 4.0, 5.0}
    else:
        assert set(values) == {0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0}
        halves = sum(count for value, count in values.items() if value % 1)
        assert 0.05 < halves / NUM_RATINGS < 0.25
    assert 3.2 < np.mean([row.rating for row in ratings]) < 3.9


@pytest.mark.parametrize('data_format', ['10m', 'csv'])
def test_later_releases_have_no_users_but_tags_imax_and_shared_titles(folders, data_format):
    layout = grouplens.locate(folders[data_format])
    assert grouplens.read_users(layout) is None
    movies = grouplens.read_movies(layout)
    titles = collections.Counter(movie.title for movie in movies.values())
    shared = [title for title, count in titles.items() if count > 1]
    assert len(shared) >= len(movies) // 100
    assert sum('IMAX' in movie.genres for movie in movies.values()) >= len(movies) // 50
    assert sum(movie.genres == ('unknown',) for movie in movies.values()) >= len(movies) // 200
    tags = grouplens.read_tags(layout, limit=5)
    assert len(tags) > len(movies) // 10
    assert 'pixar' in {tag for movie_tags in tags.values() for tag in movie_tags}


def test_csv_titles_are_quoted_and_read_back_whole(folders):
    with open(os.path.join(folders['csv'], 'movies.csv'), encoding='utf-8', newline='') as f:
        raw = f.read().splitlines()
    rows = list(csv.reader(raw))
    assert rows[0] == ['movieId', 'title', 'genres']
    assert any(line.startswith('1,"Misérables, Les (') for line in raw)
    quoted = [row[1] for row in rows[1:] if row[1].startswith('"')]
    assert quoted, 'titles in double quotes'
    movies = grouplens.read_movies(grouplens.locate(folders['csv']))
    assert {movies[row[0]].title for row in rows[1:]} == {row[1] for row in rows[1:]}


def test_the_older_formats_keep_their_users(folders):
    for data_format in ('100k', '1m'):
        users = grouplens.read_users(grouplens.locate(folders[data_format]))
        assert len(users) == synthetic.default_sizes(NUM_RATINGS)[0]


def test_the_25m_shape():
    assert synthetic.default_sizes(25_000_095) == (162_541, 62_423)
    assert synthetic.default_sizes(32_000_204) == (200_948, 87_585)


def test_predefined_splits_only_where_the_release_has_them(tmp_path):
    with pytest.raises(ValueError, match='the csv format has no predefined splits'):
        synthetic.write_grouplens(str(tmp_path), 100, data_format='csv', predefined_splits=True)


def test_a_folder_changes_format_without_stale_files(tmp_path):
    folder = str(tmp_path / 'data')
    synthetic.write_grouplens(folder, 500, predefined_splits=True)
    synthetic.write_grouplens(folder, 500, data_format='csv')
    assert sorted(name for name in os.listdir(folder) if not name.startswith('.')) == [
        'movies.csv', 'ratings.csv', 'tags.csv']
