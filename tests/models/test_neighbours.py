"""The item-item neighbourhood term: which movies are neighbours, and what the term adds."""
import numpy as np
import pytest

from models import features
from models.ranking import trainer
from models.ranking import model as ranking_model
from models.ranking.hyperparameters import Hyperparameters
from models.schema import RatingScale
from pipeline import configs
from tests.models.data import as_columns


def test_movies_rated_alike_are_each_others_first_neighbours():
    # Movies 0 and 1 are rated alike by every user, movie 2 the opposite way; movie 3 has
    # one rating only.
    users = np.repeat(np.arange(6), 3)
    movies = np.tile([0, 1, 2], 6)
    liked = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    centred = np.stack([liked, liked, -liked], axis=1).ravel()
    users, movies = np.append(users, 0), np.append(movies, 3)
    centred = np.append(centred, 0.5)
    neighbours, similarity = trainer.movie_neighbours(users, movies, centred, users=6,
                                                      movies=5, count=2, shrinkage=1.0)
    assert neighbours.shape == similarity.shape == (5, 2)
    # Six users rated 0 and 1 alike: cosine 1, shrunk by 6 / (6 + 1).
    assert similarity[0, 0] == pytest.approx(6 / 7, abs=1e-4)
    assert neighbours[2, 0] not in (0, 1)  # rated opposite to them
    assert neighbours[0, 0] == 1 and neighbours[1, 0] == 0
    assert 2 not in neighbours[:2, 0]
    assert not (neighbours == np.arange(5)[:, None]).any()  # never a movie itself


def test_without_enough_movies_the_lists_are_padded():
    neighbours, similarity = trainer.movie_neighbours(
        np.array([0, 0]), np.array([0, 1]), np.array([1.0, -1.0]), users=1, movies=2, count=3)
    np.testing.assert_array_equal(neighbours, [[1, -1, -1], [0, -1, -1]])
    np.testing.assert_array_equal(similarity[:, 1:], 0.0)


def random_ratings(users, movies, count, seed=0):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(users * movies, count, replace=False)
    return pairs // movies, pairs % movies, rng.normal(size=count).astype(np.float32)


def test_the_similarities_are_the_shrunk_cosines_of_every_pair():
    users, movies, shrinkage = 40, 30, 5.0
    user_index, movie_index, residuals = random_ratings(users, movies, 500)
    # A block of movies at a time, in place: against the formula over a dense matrix.
    dense = np.zeros((users, movies))
    dense[user_index, movie_index] = residuals
    rated = (dense != 0).astype(float)
    norms = np.sqrt((dense ** 2).sum(axis=0)) + 1e-6
    together = rated.T @ rated
    expected = dense.T @ dense / np.outer(norms, norms) * together / (together + shrinkage)
    np.fill_diagonal(expected, -np.inf)
    neighbours, similarity = trainer.movie_neighbours(user_index, movie_index, residuals,
                                                      users, movies, count=4,
                                                      shrinkage=shrinkage)
    np.testing.assert_allclose(similarity, -np.sort(-expected, axis=1)[:, :4], atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(expected, neighbours, axis=1), similarity,
                               atol=1e-5)


def test_a_heavy_user_counts_with_a_random_sample_of_their_ratings():
    users, movies = 40, 30
    user_index, movie_index, residuals = random_ratings(users, movies, 500, seed=1)
    heaviest = np.bincount(user_index).max()
    uncapped = trainer.movie_neighbours(user_index, movie_index, residuals, users, movies,
                                        count=4, ratings_per_user=heaviest)
    capped = trainer.movie_neighbours(user_index, movie_index, residuals, users, movies,
                                      count=4, ratings_per_user=heaviest - 3, seed=7)
    assert not np.array_equal(capped[1], uncapped[1])
    kept, _ = trainer.rated_sample_rows(user_index, users, heaviest - 3, seed=7)
    assert len(kept) < len(user_index)
    sampled = trainer.movie_neighbours(user_index[kept], movie_index[kept], residuals[kept],
                                       users, movies, count=4, ratings_per_user=heaviest)
    for got, expected in zip(capped, sampled):
        np.testing.assert_array_equal(got, expected)


def test_residuals_remove_the_users_and_the_movies_mean():
    # User 0 rates 4 and 2 (mean 3), user 1 rates 5 and 3 (mean 4): movie 0 is liked 1 more.
    residuals = trainer.baseline_residuals(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]),
                                           np.array([4.0, 2.0, 5.0, 3.0]), users=2, movies=2,
                                           shrinkage=0.0)
    np.testing.assert_allclose(residuals, 0.0, atol=1e-6)


@pytest.fixture(scope='module')
def scorer_and_tables(transform_output):
    columns = as_columns(transform_output[1])
    sizes = trainer.vocabulary_sizes(transform_output[0])
    tables = trainer.build_catalog_tables(columns, sizes, 100, seed=0, neighbours=2)
    hparams = Hyperparameters.from_config(dict(configs.HYBRID_HYPERPARAMETERS, neighbours=2,
                                               ensemble_size=2, biased_mf_penalties=()))
    scorer = ranking_model.HybridScorer(sizes[features.USER_INDEX],
                                        sizes[features.MOVIE_INDEX], tables, hparams)
    return scorer, tables


def test_the_term_is_the_similarity_weighted_mean_of_the_users_residuals(scorer_and_tables):
    scorer, tables = scorer_and_tables
    splits = tables.rated_row_splits
    user = int(np.argmax(np.diff(splits)))  # the user who rated most
    rated = tables.rated_movies[splits[user]:splits[user + 1]]
    residuals = dict(zip(rated, tables.rated_residuals[splits[user]:splits[user + 1]]))
    assert list(rated) == sorted(rated)  # the term searches each user's movies in order
    movies = np.arange(len(tables.movie_neighbours))
    scorer(np.full(len(movies), user), movies)  # builds the weights
    scorer.neighbour_global_weight.assign([1.0, 0.0])
    weights = np.zeros((len(movies), 2), np.float32)
    weights[:, 1] = 2.0
    scorer.neighbour_weight.embeddings.assign(weights)
    term = scorer._neighbourhood(np.full(len(movies), user), movies).numpy()
    found_any = False
    for movie in movies:
        pairs = [(s, residuals[j]) for j, s in zip(tables.movie_neighbours[movie],
                                                   tables.movie_neighbour_similarity[movie])
                 if j in residuals]
        found_any |= bool(pairs)
        expected = sum(s * r for s, r in pairs) / (sum(abs(s) for s, _ in pairs) + 1.0)
        assert term[movie, 0] == pytest.approx(expected, abs=1e-5)
        assert term[movie, 1] == pytest.approx(2 * expected, abs=1e-5)
    assert found_any


def test_the_averages_computed_once_per_split_rate_as_those_computed_at_each_step(
        scorer_and_tables, columns):
    scorer, _ = scorer_and_tables
    split = trainer.with_table_inputs(scorer, columns)
    assert sorted(split) == sorted(trainer.EVAL_COLUMNS + (ranking_model.NEIGHBOURHOOD_AVERAGE,))
    users, movies = split[features.USER_INDEX], split[features.MOVIE_INDEX]
    average = split[ranking_model.NEIGHBOURHOOD_AVERAGE]
    assert average.shape == users.shape and np.count_nonzero(average) > len(average) // 2
    scorer(users, movies)  # builds the weights
    scorer.neighbour_global_weight.assign([0.5, 1.5])
    np.testing.assert_array_equal(scorer(users, movies, neighbourhood_average=average),
                                  scorer(users, movies))
    # The average given is the one used: one more moves each member's rating by its weight.
    moved = scorer(users, movies, neighbourhood_average=average + 1.0) - scorer(
        users, movies, neighbourhood_average=average)
    np.testing.assert_allclose(moved, scorer.neighbour_global_weight.numpy()
                               + scorer.neighbour_weight(movies).numpy(), atol=1e-5)
    # And the model hands the column of a batch to its scorer.
    model = ranking_model.RankingModel(scorer, RatingScale(1.0, 5.0))
    given = dict(split, **{ranking_model.NEIGHBOURHOOD_AVERAGE: average + 1.0})
    np.testing.assert_array_equal(
        model.member_scores(given, training=False),
        scorer(users, movies, neighbourhood_average=average + 1.0))
