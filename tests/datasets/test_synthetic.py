"""The synthetic GroupLens generator: exact, deterministic, MovieLens-shaped, learnable."""
import os

import numpy as np
import pytest

from components.movielens import grouplens
from datasets import synthetic

NUM_RATINGS = 100_000


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    return synthetic.write_grouplens(str(tmp_path_factory.mktemp('generated')), NUM_RATINGS,
                                     predefined_splits=True)


@pytest.fixture(scope='module')
def ratings(generated):
    return np.loadtxt(os.path.join(generated, 'u.data'), dtype=np.int64, delimiter='\t')


def read_bytes(folder, name):
    with open(os.path.join(folder, name), 'rb') as stream:
        return stream.read()


def top_decile_share(ids: np.ndarray) -> float:
    counts = np.sort(np.unique(ids, return_counts=True)[1])[::-1]
    return counts[:len(counts) // 10].sum() / counts.sum()


def test_exact_count_of_distinct_pairs_with_valid_ratings(ratings):
    assert ratings.shape == (NUM_RATINGS, 4)
    users, movies, stars = ratings[:, 0], ratings[:, 1], ratings[:, 2]
    assert len(np.unique(users * 100_000 + movies)) == NUM_RATINGS
    assert set(np.unique(stars)) == {1, 2, 3, 4, 5}
    assert 3.2 < stars.mean() < 3.9


def test_sizes_scale_like_movielens(ratings):
    assert synthetic.default_sizes(100_000) == (943, 1682)
    assert synthetic.default_sizes(1_000_000) == (6040, 3952)
    users, movies = synthetic.default_sizes(10_000_000)
    assert (users, movies) == (60_000, 20_000)
    assert len(np.unique(ratings[:, 0])) == 943
    # Every user has at least 20 ratings, as in MovieLens.
    assert np.unique(ratings[:, 0], return_counts=True)[1].min() >= 20


def test_long_tails(ratings):
    assert top_decile_share(ratings[:, 1]) > 0.35  # movies; the real ml-100k: 0.43
    assert top_decile_share(ratings[:, 0]) > 0.25  # users; the real ml-100k: 0.32


def test_ratings_are_learnable(ratings):
    # Movie and user means from half of the ratings predict the other half better than the
    # global mean does: there is signal beyond noise.
    rng = np.random.default_rng(0)
    in_fit = rng.random(len(ratings)) < 0.5
    fit, held_out = ratings[in_fit], ratings[~in_fit]
    mean = fit[:, 2].mean()

    def offsets(column):
        sums = np.bincount(fit[:, column], weights=fit[:, 2] - mean, minlength=100_000)
        counts = np.bincount(fit[:, column], minlength=100_000)
        return sums / (counts + 5)  # shrunk towards 0 for rarely rated ones

    prediction = mean + offsets(1)[held_out[:, 1]] + offsets(0)[held_out[:, 0]]
    baseline = np.sqrt(np.mean((held_out[:, 2] - mean) ** 2))
    rmse = np.sqrt(np.mean((held_out[:, 2] - prediction) ** 2))
    assert rmse < 0.92 * baseline


def test_files_parse_and_titles_are_latin1(generated):
    layout = grouplens.locate(generated)
    movies = grouplens.read_movies(layout)
    users = grouplens.read_users(layout)
    assert len(movies) == 1682 and len(users) == 943
    assert movies['1'].title.startswith('Misérables, Les (')
    assert 'Misérables'.encode('latin-1') in read_bytes(generated, 'u.item')
    assert sum(not movie.title.isascii() for movie in movies.values()) >= 10


def test_predefined_split_files_partition_the_ratings(generated):
    data = sorted(read_bytes(generated, 'u.data').splitlines())
    base = read_bytes(generated, 'u1.base').splitlines()
    test = read_bytes(generated, 'u1.test').splitlines()
    assert sorted(base + test) == data
    assert abs(len(test) / len(data) - 0.2) < 0.01


def test_same_arguments_write_the_same_bytes(generated, tmp_path):
    again = synthetic.write_grouplens(str(tmp_path / 'again'), NUM_RATINGS,
                                      predefined_splits=True)
    for name in ('u.data', 'u.item', 'u.user', 'u1.base', 'u1.test'):
        assert read_bytes(again, name) == read_bytes(generated, name), name
    other_seed = synthetic.write_grouplens(str(tmp_path / 'other'), NUM_RATINGS, seed=1)
    assert read_bytes(other_seed, 'u.data') != read_bytes(generated, 'u.data')


def test_identical_folder_is_not_rewritten(tmp_path):
    folder = str(tmp_path / 'small')
    synthetic.write_grouplens(folder, 500)
    old = 1_000_000_000
    for name in ('u.data', 'u.item', 'u.user'):
        os.utime(os.path.join(folder, name), (old, old))
    synthetic.write_grouplens(folder, 500)
    assert os.stat(os.path.join(folder, 'u.data')).st_mtime == old
    synthetic.write_grouplens(folder, 600)
    assert os.stat(os.path.join(folder, 'u.data')).st_mtime > old
    assert len(read_bytes(folder, 'u.data').splitlines()) == 600


def test_does_not_overwrite_data_it_did_not_write(tmp_path):
    (tmp_path / 'u.data').write_text('1\t1\t5\t874965758\n')
    with pytest.raises(FileExistsError, match='did not write'):
        synthetic.write_grouplens(str(tmp_path), 500)


def test_small_and_explicit_sizes(tmp_path):
    folder = synthetic.write_grouplens(str(tmp_path), 50, num_users=5, num_movies=30)
    ratings = np.loadtxt(os.path.join(folder, 'u.data'), dtype=np.int64, delimiter='\t')
    assert ratings.shape == (50, 4)
    assert ratings[:, 0].max() <= 5 and ratings[:, 1].max() <= 30
    with pytest.raises(ValueError, match='too few'):
        synthetic.write_grouplens(str(tmp_path / 'x'), 100, num_users=5, num_movies=30)
