"""A release like MovieLens 10M and later: half stars, nothing known of users, and two movies
that share a title.

The rows are data.half_star_rows() through the real preprocessing_fn; the model is trained on
them as run_fn trains it (with a learning rate high enough to fit 13 rows) and saved with
its signatures.
"""
import os

import numpy as np
import pytest
import tensorflow as tf

import rank
from models import features, schema
from models.ranking import bias_baseline, catalog, signatures, trainer
from models.ranking import model as ranking_model
from models.ranking.hyperparameters import Hyperparameters
from pipeline import configs
from tests.models import data

HALF_STARS = schema.RatingScale(0.5, 5.0)
LOW_RATER = '10'  # data.HALF_STAR_RATINGS: rates 0.5 to 1.5


@pytest.fixture(scope='module')
def half_stars(tmp_path_factory):
    """(raw rows, (TFTransformOutput, transformed rows)) of the half-star release."""
    rows = data.half_star_rows()
    return rows, data.run_transform(str(tmp_path_factory.mktemp('half_stars')), rows,
                                    data.HALF_STARS)


@pytest.fixture(scope='module')
def version_dir(half_stars, tmp_path_factory):
    rows, transform_output = half_stars
    path = os.path.join(str(tmp_path_factory.mktemp('half_star_model')), '1')
    # Eval is train itself here, so a refit on train + eval would see every row twice; the
    # refit is tested in test_refit.py. Nor are the embeddings decayed or penalised: the 13
    # rows are to be learnt, not generalised from, and either keeps the low rater near
    # their mean.
    return data.save_serving_model(transform_output, path, raw_rows=rows, learning_rate=0.05,
                                   epochs=30, refit_on_eval=False,
                                   embedding_decay_per_epoch=0.0,
                                   biased_mf_penalties=((0.0, 'row'),))


@pytest.fixture(scope='module')
def loaded(version_dir):
    return tf.saved_model.load(version_dir)


def rate_examples(loaded, rows, signature=signatures.SERVING_DEFAULT):
    examples = tf.constant([data.serialize(row) for row in rows])
    return loaded.signatures[signature](examples=examples)


# Vocabularies and tables only for what the release has.

def test_a_release_without_user_features_gets_no_vocabulary_of_them(half_stars):
    _, (output, _) = half_stars
    made = output.transformed_feature_spec()
    assert not set(features.USER_SIDE_FEATURES) & set(made)
    for index_feature in features.USER_SIDE_FEATURES:
        assert not output.vocabulary_file_by_name(features.VOCABULARY_OF[index_feature])
    # Six rated movies and four users, each with its OOV bucket; six genres, IMAX among them.
    assert trainer.vocabulary_sizes(output) == {
        features.USER_INDEX: 5, features.MOVIE_INDEX: 7, features.MOVIE_GENRE_INDICES: 7}
    assert b'IMAX' in output.vocabulary_by_name(features.MOVIE_GENRES)


def test_movies_that_share_a_title_stay_distinct(half_stars):
    _, (output, transformed) = half_stars
    movies = output.vocabulary_by_name(features.VOCABULARY_OF[features.MOVIE_INDEX])
    # Movie 6 has three ratings and movie 5 two: 6 comes first in the frequency order.
    assert movies.index(b'6') < movies.index(b'5')
    index_of = {row[features.MOVIE_ID][0]: t[features.MOVIE_INDEX]
                for row, t in zip(data.half_star_rows(), transformed)}
    assert index_of[b'5'] != index_of[b'6']


def test_catalog_tables_have_no_user_features(half_stars):
    _, (output, transformed) = half_stars
    tables = trainer.build_catalog_tables(data.as_columns(transformed),
                                          trainer.vocabulary_sizes(output),
                                          implicit_feedback_limit=10, seed=0)
    assert tables.user_features == {}


# The rating scale.

def test_the_rating_scale_is_the_schemas(half_stars):
    _, (output, _) = half_stars
    assert schema.rating_scale(output.raw_metadata.schema, 'here') == HALF_STARS
    assert schema.rating_scale(data.raw_schema(data.WHOLE_STARS), 'here') == (
        schema.RatingScale(1.0, 5.0))


def test_a_schema_without_a_rating_domain_is_an_error_naming_it():
    without = data.raw_schema(data.HALF_STARS)
    rating = next(f for f in without.feature if f.name == features.LABEL)
    rating.ClearField('float_domain')
    with pytest.raises(ValueError, match=r"^transform_graph/metadata: feature 'user_rating' "
                                         r'has no float_domain.*float_domain \{ min: 0.5'):
        schema.rating_scale(without, 'transform_graph/metadata')


def test_served_ratings_are_clipped_to_the_release_scale_not_to_1_to_5():
    model = ranking_model.RankingModel(
        data.FixedScorer([[-3.0], [0.7], [4.9], [9.0]], member_kinds=['fixed']), HALF_STARS)
    batch = {features.USER_INDEX: tf.zeros([4], tf.int64),
             features.MOVIE_INDEX: tf.zeros([4], tf.int64)}
    np.testing.assert_allclose(model(batch).numpy(), [0.5, 0.7, 4.9, 5.0])
    np.testing.assert_allclose(model(batch, training=True).numpy(), [-3.0, 0.7, 4.9, 9.0])


def test_the_model_trains_without_user_features_and_rates_in_half_star_range(loaded):
    rows = data.half_star_rows()
    ratings = rate_examples(loaded, rows)[signatures.RATING].numpy()
    labels = np.array([row[features.LABEL][0] for row in rows])
    assert ((ratings >= 0.5) & (ratings <= 5.0)).all()
    # It learnt: closer to the ratings than their mean is, and below 1 star for the user
    # who rates lowest, which a 1-5 clip would forbid.
    assert np.sqrt(np.mean((ratings - labels) ** 2)) < 0.5 * labels.std()
    low = [r for r, row in zip(ratings, rows) if row[features.USER_ID][0].decode() == LOW_RATER]
    assert min(low) < 1.0


# Titles.

def test_a_title_names_the_movie_listed_first():
    assert catalog.movie_of_title([b'A', b'Hamlet', b'B', b'Hamlet']) == {
        b'A': 0, b'Hamlet': 1, b'B': 2}


def test_predict_rating_and_rank_resolve_a_shared_title_to_the_most_rated_movie(loaded):
    user = '11'
    row5, row6 = (data.make_row(user, movie, 3.0, demographics=False) for movie in (5, 6))
    by_id = rate_examples(loaded, [row5, row6])[signatures.RATING].numpy()
    assert abs(by_id[0] - by_id[1]) > 1e-4, 'the two movies must differ for this to prove anything'
    by_title = loaded.signatures[signatures.PREDICT_RATING](
        user_id=tf.constant([user]), movie_title=tf.constant([data.SHARED_TITLE]))
    assert by_title[signatures.RATING].numpy()[0] == pytest.approx(by_id[1], abs=1e-5)

    ranked = loaded.signatures[signatures.RANK](
        user_id=tf.constant(user),
        movie_titles=tf.constant([data.SHARED_TITLE, 'Toy Story (1995)', 'No Such Movie']))
    ids = dict(zip(ranked[signatures.MOVIE_TITLES].numpy(), ranked[signatures.MOVIE_IDS].numpy()))
    assert ids == {data.SHARED_TITLE.encode(): b'6', b'Toy Story (1995)': b'0',
                   b'No Such Movie': b''}


def test_top_k_ranks_movies_so_both_films_of_a_title_come_back(loaded):
    best = loaded.signatures[signatures.TOP_K](user_id=tf.constant('11'), k=tf.constant(100))
    pairs = sorted(zip(best[signatures.MOVIE_IDS].numpy(), best[signatures.MOVIE_TITLES].numpy()))
    assert pairs == [(b'0', b'Toy Story (1995)'), (b'1', b'GoldenEye (1995)'),
                     (b'2', 'Misérables, Les (1995)'.encode()), (b'3', b'Casablanca (1942)'),
                     (b'5', data.SHARED_TITLE.encode()), (b'6', data.SHARED_TITLE.encode())]


def test_rank_py_shows_which_movie_a_shared_title_named(version_dir):
    [row] = rank.rank(version_dir, '12', [data.SHARED_TITLE])
    assert (row['movie_title'], row['movie_id'], row['known_title']) == (
        data.SHARED_TITLE, '6', True)


# The bias baseline.

def test_the_bias_baseline_is_the_regularised_least_squares_solution():
    rng = np.random.default_rng(3)
    users, movies, regularisation = 6, 5, 2.5
    user_index, movie_index = rng.integers(0, users, 40), rng.integers(0, movies, 40)
    ratings = rng.integers(1, 11, 40) / 2.0
    fitted = bias_baseline.fit(user_index, movie_index, ratings, users, movies,
                               regularisation, iterations=200)
    # min |r - mean - [onehot(u), onehot(m)] b|^2 + reg |b|^2, solved directly.
    design = np.concatenate([np.eye(users)[user_index], np.eye(movies)[movie_index]], axis=1)
    solution = np.linalg.solve(design.T @ design + regularisation * np.eye(users + movies),
                               design.T @ (ratings - ratings.mean()))
    np.testing.assert_allclose(np.concatenate([fitted.user_bias, fitted.movie_bias]), solution,
                               atol=1e-8)
    assert fitted.mean == pytest.approx(ratings.mean())


def test_the_regularisation_is_chosen_on_eval():
    user_index, movie_index = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    train = (user_index, movie_index, np.array([5.0, 4.0, 1.0, 2.0]))
    # Eval says every rating is the mean: the strongest shrinkage wins ...
    flat = (user_index, movie_index, np.full(4, 3.0))
    chosen, eval_rmse = bias_baseline.fit_chosen_on_eval(train, flat, 2, 2, (0.1, 1.0, 50.0),
                                                         HALF_STARS)
    assert chosen.regularisation == 50.0 and set(eval_rmse) == {0.1, 1.0, 50.0}
    # ... and when eval repeats train, the weakest.
    chosen, _ = bias_baseline.fit_chosen_on_eval(train, train, 2, 2, (0.1, 1.0, 50.0),
                                                 HALF_STARS)
    assert chosen.regularisation == 0.1


def test_the_saved_model_rates_with_the_trainers_bias_baseline(half_stars, loaded):
    rows, (output, transformed) = half_stars
    columns = data.as_columns(transformed)
    sizes = trainer.vocabulary_sizes(output)
    hparams = Hyperparameters.from_config(dict(configs.HYPERPARAMETERS['hybrid'],
                                               refit_on_eval=False))  # as version_dir
    fitted, eval_rmse = trainer.fit_bias_baseline(hparams, columns, columns, sizes, HALF_STARS)
    expected = np.clip(fitted.mean + fitted.user_bias[columns[features.USER_INDEX]]
                       + fitted.movie_bias[columns[features.MOVIE_INDEX]], 0.5, 5.0)
    rated = rate_examples(loaded, rows, signatures.EVALUATE)
    np.testing.assert_allclose(rated[signatures.BIAS_BASELINE_RATING].numpy(), expected,
                               rtol=1e-5)
    assert eval_rmse == pytest.approx(np.sqrt(np.mean((expected - columns[features.LABEL]) ** 2)))
    # `evaluate` rates as serving_default does.
    np.testing.assert_allclose(rated[signatures.RATING].numpy(),
                               rate_examples(loaded, rows)[signatures.RATING].numpy(), rtol=1e-6)
