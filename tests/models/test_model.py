"""The ranking models: forward pass, learning, lookup tables and the exported signatures."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from models import features
from models.ranking import model as ranking_model
from models.ranking import signatures, trainer
from models.ranking.hyperparameters import Hyperparameters
from models.schema import RatingScale
from pipeline import configs
from tests.models.data import FixedScorer, make_row, serialize

WHOLE_STARS = RatingScale(1.0, 5.0)


def hparams(preset='hybrid', **overrides):
    return Hyperparameters.from_config(dict(configs.HYPERPARAMETERS[preset], **overrides))


def batch_of(columns):
    return {key: tf.constant(columns[key]) for key in (
        features.USER_INDEX, features.MOVIE_INDEX, features.LABEL)}


def tables_of(columns, sizes, limit=100):
    return trainer.build_catalog_tables(columns, sizes, implicit_feedback_limit=limit, seed=0)


def build(architecture, columns, sizes, **overrides):
    return ranking_model.build(hparams(architecture, **overrides), sizes[features.USER_INDEX],
                               sizes[features.MOVIE_INDEX], tables_of(columns, sizes),
                               WHOLE_STARS)


def test_vocabulary_sizes_count_the_oov_bucket(sizes):
    assert sizes[features.USER_INDEX] == 5  # four users + OOV
    assert sizes[features.MOVIE_INDEX] == 5  # four rated titles + OOV
    assert sizes[features.USER_GENDER_INDEX] == 3


def test_catalog_tables_hold_each_users_side_features(transform_output, columns, sizes):
    tables = tables_of(columns, sizes)
    genders = transform_output[0].vocabulary_by_name(features.USER_GENDER)
    user_genders = tables.user_features[features.USER_GENDER_INDEX]
    # Users 1 and 2 are women, 0 and 3 men; row 4 is the OOV user, with the OOV gender.
    assert [genders[i] for i in user_genders[:4]] == [b'M', b'F', b'F', b'M']
    assert user_genders[4] == len(genders)
    assert tables.movie_genres.shape[0] == sizes[features.MOVIE_INDEX]
    assert (tables.movie_genres[4] == tables.genre_padding).all()
    assert tables.rating_mean == pytest.approx(columns[features.LABEL].mean())


@pytest.mark.parametrize('architecture', ['hybrid', 'notebook'])
def test_forward_pass_predicts_ratings_in_range(architecture, columns, sizes):
    model = build(architecture, columns, sizes)
    predictions = model(batch_of(columns)).numpy()
    assert predictions.shape == (len(columns[features.LABEL]),)
    assert ((predictions >= 1.0) & (predictions <= 5.0)).all()


def test_notebook_architecture_matches_the_tutorial(columns, sizes):
    model = build('notebook', columns, sizes)
    model(batch_of(columns))
    scorer = model.scorer
    assert scorer.user_embedding.output_dim == 32 and scorer.movie_embedding.output_dim == 32
    assert [layer.units for layer in scorer.ratings.layers] == [256, 64, 1]


@pytest.mark.parametrize('architecture', ['hybrid', 'notebook'])
def test_loss_falls_on_a_fixed_batch(architecture, columns, sizes):
    model = build(architecture, columns, sizes)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    batch = batch_of(columns)
    before = model.evaluate(tf.data.Dataset.from_tensors(batch), return_dict=True, verbose=0)
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(100), verbose=0)
    after = model.evaluate(tf.data.Dataset.from_tensors(batch), return_dict=True, verbose=0)
    assert after['rmse'] < 0.5 * before['rmse']


def test_rated_movies_sample_keeps_at_most_the_limit_per_user():
    user_index = np.array([0, 0, 0, 0, 1, 2, 2])
    movie_index = np.array([10, 11, 12, 13, 20, 30, 31])
    movies, row_splits = trainer.rated_movies_sample(user_index, movie_index, users=4,
                                                     limit=3, seed=0)
    assert row_splits.tolist() == [0, 3, 4, 6, 6]  # user 3 rated nothing
    assert set(movies[:3]) < {10, 11, 12, 13} and len(set(movies[:3])) == 3
    assert movies[3:].tolist() == [20, 30, 31] or movies[3:].tolist() == [20, 31, 30]


@pytest.mark.parametrize('larger_batches', [((2_000_000, 8192), (20_000_000, 16384)),
                                            ((20_000_000, 16384), (2_000_000, 8192))])
def test_a_train_split_that_reaches_a_larger_batch_size_trains_in_that_batch(larger_batches):
    settings = hparams(batch_size=4096, larger_batches=larger_batches)
    assert trainer.training_batch_size(settings, 100_000) == 4096
    assert trainer.training_batch_size(settings, 1_999_999) == 4096
    assert trainer.training_batch_size(settings, 2_000_000) == 8192
    assert trainer.training_batch_size(settings, 7_200_000) == 8192
    assert trainer.training_batch_size(settings, 25_000_000) == 16384
    # The notebook's model keeps its one batch whatever the size.
    assert trainer.training_batch_size(hparams('notebook'), 25_000_000) == 8192


def test_training_batches_hold_every_row_once_per_epoch_in_a_new_order():
    split = {features.USER_INDEX: np.arange(10), features.MOVIE_INDEX: np.arange(10) + 100,
             features.LABEL: np.arange(10, dtype=np.float32),
             ranking_model.NEIGHBOURHOOD_AVERAGE: np.arange(10, dtype=np.float32) / 10}
    steps = trainer.batches_per_epoch(len(split[features.LABEL]), batch_size=4)
    assert steps == 3
    # Endless: fit takes `steps` batches an epoch from one iterator.
    batches = iter(trainer.training_batches(split, batch_size=4, seed=1))

    def epoch():
        rows = [next(batches) for _ in range(steps)]
        users = [b[features.USER_INDEX].numpy() for b in rows]
        movies = [b[features.MOVIE_INDEX].numpy() for b in rows]
        averages = [b[ranking_model.NEIGHBOURHOOD_AVERAGE].numpy() for b in rows]
        assert [len(u) for u in users] == [4, 4, 2]
        # Rows stay whole: a user's movie, label and table input travel with it.
        np.testing.assert_array_equal(np.concatenate(movies), np.concatenate(users) + 100)
        np.testing.assert_allclose(np.concatenate(averages), np.concatenate(users) / 10)
        return np.concatenate(users)

    first, second, third = epoch(), epoch(), epoch()
    for order in (first, second, third):
        assert sorted(order) == list(range(10))
    orders = {tuple(order) for order in (first, second, third)}
    assert len(orders) == 3
    # The seed fixes the orders.
    again = trainer.training_batches(split, batch_size=4, seed=1).take(steps)
    assert np.concatenate([b[features.USER_INDEX].numpy() for b in again]).tolist() == \
        first.tolist()


@pytest.mark.parametrize('architecture, overrides, count', [
    ('hybrid', dict(biased_mf_penalties=()), 3), ('notebook', {}, 3), ('hybrid', {}, 5)])
def test_the_served_rating_is_the_clipped_average_of_the_members(architecture, overrides,
                                                                  count, columns, sizes):
    model = build(architecture, columns, sizes, ensemble_size=3, **overrides)
    batch = batch_of(columns)
    members = model.scorer(batch[features.USER_INDEX], batch[features.MOVIE_INDEX]).numpy()
    assert members.shape == (len(columns[features.LABEL]), count)
    # Different random starting weights: the members disagree.
    assert not np.allclose(members[:, 0], members[:, 1])
    np.testing.assert_allclose(model(batch).numpy(), np.clip(members.mean(axis=1), 1.0, 5.0),
                               rtol=1e-5)


def _two_kinds_scorer(scores):
    """Rates the pairs of a batch with the given scores: members of kinds b, a, b."""
    return FixedScorer(scores, member_kinds=['b', 'a', 'b'])


def test_the_blend_weighs_each_kind_of_member_as_least_squares_fits_eval():
    rng = np.random.default_rng(0)
    scores = rng.uniform(2.0, 4.0, (2000, 3))
    labels = (0.6 * scores[:, [0, 2]].mean(axis=1) + 0.5 * scores[:, 1] - 0.3
              + rng.normal(0.0, 0.01, 2000))
    model = ranking_model.RankingModel(_two_kinds_scorer(scores), WHOLE_STARS)
    split = {features.USER_INDEX: np.zeros(2000, np.int64),
             features.MOVIE_INDEX: np.zeros(2000, np.int64),
             features.LABEL: labels.astype(np.float32)}
    data = trainer.eval_batches(split)
    blend = trainer.fit_blend(model, data, WHOLE_STARS)
    # Kind b's weight is shared by its two members.
    np.testing.assert_allclose(blend.member_weights, [0.3, 0.5, 0.3], atol=0.005)
    assert blend.kind_weights == pytest.approx({'b': 0.6, 'a': 0.5}, abs=0.01)
    assert list(blend.kind_weights) == ['b', 'a']  # in the members' order
    assert blend.offset == pytest.approx(-0.3, abs=0.02)
    # Cross-fitted: each half rated by the blend fitted on the other; about the noise.
    assert blend.eval_rmse == pytest.approx(0.01, abs=0.001)
    # Until a blend is used, the members weigh alike.
    batch = next(iter(data))
    np.testing.assert_allclose(model(batch).numpy(), scores.mean(axis=1), rtol=1e-6)
    model.use_blend(blend.member_weights, blend.offset)
    np.testing.assert_allclose(model(batch).numpy(),
                               scores @ blend.member_weights + blend.offset, rtol=1e-5)
    # Scored on ratings it was not fitted to: worse than on those it was, where least
    # squares is best, by more the more it fits noise.
    noise = rng.uniform(2.5, 3.5, 2000)
    noisy = trainer.eval_batches(dict(split, **{features.LABEL: noise.astype(np.float32)}))
    fitted = trainer.fit_blend(model, noisy, WHOLE_STARS)
    in_sample = np.sqrt(np.mean((scores @ fitted.member_weights + fitted.offset - noise) ** 2))
    assert fitted.eval_rmse > in_sample + 1e-4
    # Too few ratings to fit 3 numbers on: no blend.
    few = trainer.eval_batches({key: column[:599] for key, column in split.items()})
    assert trainer.fit_blend(ranking_model.RankingModel(_two_kinds_scorer(scores[:599]),
                                                        WHOLE_STARS), few, WHOLE_STARS) is None


def with_a_movie_listed_twice(tables):
    """The tables with user 0's first rated movie listed again right after it, with another
    residual: the item-item term must count it once, with its first residual."""
    at = tables.rated_row_splits[0] + 1
    return dataclasses.replace(
        tables,
        rated_movies=np.insert(tables.rated_movies, at, tables.rated_movies[at - 1]),
        rated_ratings=np.insert(tables.rated_ratings, at, tables.rated_ratings[at - 1]),
        rated_residuals=np.insert(tables.rated_residuals, at,
                                  tables.rated_residuals[at - 1] + 1.0),
        rated_row_splits=tables.rated_row_splits + (
            np.arange(len(tables.rated_row_splits)) >= 1))


@pytest.mark.parametrize('architecture, overrides, listed_twice', [
    ('hybrid', {}, False),
    ('hybrid', {}, True),
    ('hybrid', dict(hidden_units=(16, 8), neighbours=0, explicit_feedback=False), False),
    ('hybrid', dict(biased_mf_penalties=((0.1, 'row'), (0.1, 'rating'))), False),
    ('notebook', {}, False),
])
def test_rating_all_movies_from_their_movie_terms_is_rating_each_pair(
        architecture, overrides, listed_twice, columns, sizes):
    settings = hparams(architecture, **overrides)
    tables = trainer.build_catalog_tables(columns, sizes, implicit_feedback_limit=100, seed=0,
                                          neighbours=settings.neighbours)
    if settings.neighbours:
        assert (tables.movie_neighbours >= 0).any() and (tables.movie_neighbours < 0).any()
    if listed_twice:
        tables = with_a_movie_listed_twice(tables)
    users, movies = sizes[features.USER_INDEX], sizes[features.MOVIE_INDEX]
    model = ranking_model.build(settings, users, movies, tables, WHOLE_STARS)
    model(batch_of(columns))
    # Random weights, the biases and neighbour weights that start at zero too, so that every
    # term of a rating counts.
    rng = np.random.default_rng(0)
    for weight in model.trainable_weights:
        weight.assign(rng.normal(0.0, 0.1, weight.shape).astype(np.float32))
    movie_index = tf.range(movies, dtype=tf.int64)  # the OOV movie too
    terms = model.scorer.movie_terms(movie_index)
    for user in range(users):  # the last is the OOV user, who rated nothing
        each_pair = model.scorer(tf.fill([movies], tf.constant(user, tf.int64)), movie_index)
        all_movies = model.scorer.rate_movies(tf.constant([user], tf.int64), terms)
        np.testing.assert_allclose(all_movies.numpy(), each_pair.numpy(), atol=1e-5, rtol=0)
        assert np.ptp(each_pair.numpy(), axis=0).min() > 0.01  # the movies' ratings differ
    # Served, through either path: the members blended with unequal weights, then clipped.
    weights = rng.uniform(0.2, 1.0, len(model.scorer.member_kinds))
    model.use_blend(weights, 3.0)
    for user in range(users):
        user_index = tf.fill([movies], tf.constant(user, tf.int64))
        each_pair = model({features.USER_INDEX: user_index, features.MOVIE_INDEX: movie_index})
        blended = model.scorer(user_index, movie_index).numpy() @ weights + 3.0
        np.testing.assert_allclose(each_pair.numpy(), np.clip(blended, 1.0, 5.0), atol=1e-5)
        all_movies = model.rate_catalog(tf.constant([user], tf.int64), terms)
        np.testing.assert_allclose(all_movies.numpy(), each_pair.numpy(), atol=1e-5, rtol=0)


def test_svdpp_sums_are_each_users_rated_movies_and_update_each_movie_once(columns, sizes):
    tables = tables_of(columns, sizes)
    scorer = ranking_model.HybridScorer(sizes[features.USER_INDEX], sizes[features.MOVIE_INDEX],
                                        tables, hparams(ensemble_size=2))
    users = np.array([2, 0, 2, 1, 0], np.int64)  # repeated, as in a batch
    with tf.GradientTape() as tape:
        sums = scorer._implicit_feedback(users)
        loss = tf.reduce_sum(sums)
    implicit = scorer.implicit_embedding.embeddings.numpy()
    explicit = scorer.explicit_embedding.embeddings.numpy()
    for row, user in enumerate(users):
        rated = slice(tables.rated_row_splits[user], tables.rated_row_splits[user + 1])
        movies, ratings = tables.rated_movies[rated], tables.rated_ratings[rated]
        expected = (implicit[movies].sum(axis=0) + (explicit[movies] * ratings[:, None]).sum(
            axis=0)) / np.sqrt(max(len(movies), 1))
        np.testing.assert_allclose(sums[row].numpy(), expected, rtol=1e-5, atol=1e-6)
    # One gradient row per movie rated, not one per rating: the optimizer updates it once.
    # In movie order, where the most rated movies' rows sit together.
    gradient = tape.gradient(loss, scorer.implicit_embedding.embeddings)
    rated_movies = np.concatenate([tables.rated_movies[
        tables.rated_row_splits[user]:tables.rated_row_splits[user + 1]] for user in {0, 1, 2}])
    assert list(gradient.indices.numpy()) == sorted(set(rated_movies))


def test_member_dense_is_a_dense_layer_per_member_laid_out_members_first():
    inputs = tf.random.stateless_normal([3, 5, 4], seed=[0, 1])  # members, batch, in
    layer = ranking_model.MemberDense(2, activation='relu')
    outputs = layer(inputs)
    assert outputs.shape == (3, 5, 2)
    for member in range(3):
        expected = tf.nn.relu(inputs[member] @ layer.kernel[member] + layer.bias[member])
        np.testing.assert_allclose(outputs[member].numpy(), expected.numpy(), rtol=1e-6)


def test_ascending_unique_is_tf_unique_in_ascending_order():
    indices = tf.constant([5, 2, 5, 0, 7, 2], tf.int64)
    distinct, position = ranking_model._ascending_unique(indices, bound=9)
    assert distinct.numpy().tolist() == [0, 2, 5, 7]
    assert position.numpy().tolist() == [2, 1, 2, 0, 3, 1]
    assert distinct.dtype == position.dtype == tf.int64


def test_members_start_from_the_mean_rating_with_zero_biases(columns, sizes):
    model = build('hybrid', columns, sizes, ensemble_size=3,
                  biased_mf_penalties=((0.1, 'row'),))
    model(batch_of(columns))
    for scorer, members in ((model.scorer, 3), (model.scorer.biased_mf, 1)):
        assert not scorer.user_bias.embeddings.numpy().any()
        assert not scorer.movie_bias.embeddings.numpy().any()
        np.testing.assert_allclose(scorer.global_mean.numpy(),
                                   [columns[features.LABEL].mean()] * members, rtol=1e-6)
    # The biased MF vectors start random but for the OOV rows, which no rating trains and no
    # decay shrinks: a user or movie out of the vocabulary gets no dot product.
    mf = model.scorer.biased_mf
    for table in (mf.user_embedding, mf.movie_embedding):
        rows = table.embeddings.numpy()
        assert not rows[-1].any() and np.abs(rows[:-1]).min(axis=1).all()
    oov_user = sizes[features.USER_INDEX] - 1
    movies = tf.range(sizes[features.MOVIE_INDEX], dtype=tf.int64)
    np.testing.assert_array_equal(
        mf(tf.fill(tf.shape(movies), tf.constant(oov_user, tf.int64)), movies).numpy(),
        np.broadcast_to(mf.global_mean.numpy(), (len(movies), 1)))


def test_biased_mf_members_penalise_their_rows_per_row_or_per_rating_and_rate_as_biased_mf(
        columns, sizes):
    model = build('hybrid', columns, sizes, biased_mf_penalties=((0.5, 'row'), (0.2, 'rating')))
    batch = batch_of(columns)
    users, movies = batch[features.USER_INDEX].numpy(), batch[features.MOVIE_INDEX].numpy()
    model(batch)
    mf = model.scorer.biased_mf
    assert model.scorer.member_kinds[-2:] == ('biased MF (L2 0.5 per row)',
                                              'biased MF (L2 0.2 per rating)')
    rng = np.random.default_rng(0)
    for weight in mf.trainable_weights:  # the biases too, which start at zero
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype(np.float32))

    def squares(vectors, biases, index):
        """[ratings, members]: each member's sum of squares of the rating's row."""
        return (np.square(vectors.embeddings.numpy()[index].reshape(len(index), 2, -1)).sum(2)
                + np.square(biases.embeddings.numpy()[index]))

    user_squares = squares(mf.user_embedding, mf.user_bias, users)
    movie_squares = squares(mf.movie_embedding, mf.movie_bias, movies)
    # Per row: each rating carries the row's penalty over its count of ratings in train.
    # Per rating: each carries the whole weight.
    per_row = (user_squares[:, 0] / np.bincount(users)[users]
               + movie_squares[:, 0] / np.bincount(movies)[movies])
    per_rating = user_squares[:, 1] + movie_squares[:, 1]
    mf(users, movies, training=True)
    [penalty] = mf.losses
    assert float(penalty) == pytest.approx(0.5 * per_row.mean() + 0.2 * per_rating.mean(),
                                           rel=1e-5)
    # Over the whole train split, which this batch is: per row, each row's squares once.
    unique_rows = sum(squares(vectors, biases, np.unique(index))[:, 0].sum()
                      for vectors, biases, index in ((mf.user_embedding, mf.user_bias, users),
                                                     (mf.movie_embedding, mf.movie_bias, movies)))
    assert float(penalty) * len(users) == pytest.approx(
        0.5 * unique_rows + 0.2 * per_rating.sum(), rel=1e-5)
    mf(users, movies)
    assert not mf.losses  # only in training
    # Their ratings: biased MF's, nothing of the hybrid's terms; after the hybrid members'.
    vectors = [table.embeddings.numpy()[index].reshape(len(index), 2, -1)
               for table, index in ((mf.user_embedding, users), (mf.movie_embedding, movies))]
    expected = (mf.global_mean.numpy() + mf.user_bias.embeddings.numpy()[users]
                + mf.movie_bias.embeddings.numpy()[movies] + (vectors[0] * vectors[1]).sum(2))
    np.testing.assert_allclose(model.scorer(users, movies).numpy()[:, -2:], expected, rtol=1e-5)


def test_a_penalty_neither_per_row_nor_per_rating_is_refused(columns, sizes):
    with pytest.raises(ValueError, match="'epoch' is neither 'row' nor 'rating'"):
        build('hybrid', columns, sizes, biased_mf_penalties=((1.0, 'epoch'),))


def test_only_the_biased_mf_tables_escape_the_row_decay_and_only_training_penalises_them(
        columns, sizes):
    model = build('hybrid', columns, sizes, neighbours=2)
    batch = batch_of(columns)
    model(batch)
    optimizer = trainer.optimizer(hparams(), epoch_batches=1)
    undecayed = {v.name for v in model.trainable_variables if not optimizer._use_weight_decay(v)}
    assert undecayed == {v.name for v in model.scorer.biased_mf.trainable_variables}
    # The model hands `training` down to the member, whose penalty then joins the loss.
    model.compute_loss(batch, training=True)
    assert len(model.losses) == 1 and float(model.losses[0]) > 0
    model.compute_loss(batch, training=False)
    assert not model.losses


def test_the_loss_is_the_sum_of_the_members_losses(columns, sizes):
    model = build('hybrid', columns, sizes, ensemble_size=3, dropout=0.0)
    batch = batch_of(columns)
    members = model.scorer(batch[features.USER_INDEX], batch[features.MOVIE_INDEX]).numpy()
    labels = columns[features.LABEL][:, np.newaxis]
    expected = ((members - labels) ** 2).mean(axis=0).sum()
    assert float(model.compute_loss(batch, training=True)) == pytest.approx(expected, rel=1e-5)


def test_unknown_architecture_is_a_clear_error(columns, sizes):
    with pytest.raises(ValueError, match="Unknown architecture 'mlp'"):
        ranking_model.build(hparams(architecture='mlp'), sizes[features.USER_INDEX],
                            sizes[features.MOVIE_INDEX], tables_of(columns, sizes), WHOLE_STARS)


def test_hyperparameters_reject_unknown_and_missing_keys():
    config = dict(configs.HYBRID_HYPERPARAMETERS, learnin_rate=0.1)
    del config['epochs']
    with pytest.raises(ValueError, match=r"unknown \['learnin_rate'\], missing \['epochs'\]"):
        Hyperparameters.from_config(config)


def test_serving_default_rates_serialized_examples(saved_model):
    examples = tf.constant([serialize(make_row(0, 0, 5)), serialize(make_row(999, 4, 1))])
    ratings = saved_model.signatures['serving_default'](examples=examples)[signatures.RATING]
    assert ratings.shape == (2,) and ratings.dtype == tf.float32
    assert ((ratings.numpy() >= 1.0) & (ratings.numpy() <= 5.0)).all()


def test_predict_rating_needs_only_ids_and_accepts_unknown_ones(saved_model):
    ratings = saved_model.signatures['predict_rating'](
        user_id=tf.constant(['0', '0', 'nobody']),
        movie_title=tf.constant(['Toy Story (1995)', 'Casablanca (1942)', 'No Such Movie']),
    )[signatures.RATING].numpy()
    assert ratings.shape == (3,)
    assert np.isfinite(ratings).all() and ((ratings >= 1.0) & (ratings <= 5.0)).all()


def test_predict_rating_agrees_with_serving_default(saved_model):
    by_ids = saved_model.signatures['predict_rating'](
        user_id=tf.constant(['1']), movie_title=tf.constant(['GoldenEye (1995)']))
    by_example = saved_model.signatures['serving_default'](
        examples=tf.constant([serialize(make_row(1, 1, 3))]))
    assert by_ids[signatures.RATING].numpy() == pytest.approx(
        by_example[signatures.RATING].numpy())


def test_transform_features_signature_returns_the_indices(saved_model):
    transformed = saved_model.signatures['transform_features'](
        examples=tf.constant([serialize(make_row(0, 0, 5))]))
    assert transformed[features.USER_INDEX].numpy().tolist() == [0]
    assert transformed[features.MOVIE_INDEX].numpy().tolist() == [0]
