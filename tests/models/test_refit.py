"""The refit on train + eval, the weights averaged over epochs, and the SVD++ term's explicit
half: what each sees, in numbers."""
import concurrent.futures
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from models import features
from models.ranking import trainer
from models.ranking import model as ranking_model
from models.ranking.hyperparameters import Hyperparameters
from models.schema import RatingScale
from pipeline import configs

WHOLE_STARS = RatingScale(1.0, 5.0)


def hparams(**overrides):
    return Hyperparameters.from_config(dict(configs.HYBRID_HYPERPARAMETERS, **overrides))


def eval_rows():
    """Ratings of known users and movies that train lacks, and one of the OOV user."""
    return {features.USER_INDEX: np.array([3, 3, 2, 4]),
            features.MOVIE_INDEX: np.array([1, 2, 3, 0]),
            features.LABEL: np.array([5.0, 4.0, 1.0, 2.0], np.float32)}


def test_refit_trains_on_train_and_eval_for_the_best_epoch_count(columns, sizes, tmp_path):
    settings = hparams(epochs=4, early_stopping_patience=10, batch_size=3, ensemble_size=2,
                       averaged_epochs_around_best=0)
    model, history = trainer.train(settings, dict(columns), eval_rows(), sizes, WHOLE_STARS,
                                   log_dir=str(tmp_path))
    assert len(history['epochs']['val_rmse']) == 4  # the early-stopped fit, on train only
    best = int(np.argmin(history['epochs']['val_rmse'])) + 1
    seen = len(columns[features.LABEL]) + 4
    assert history['refit']['epochs'] == best
    assert history['refit']['examples'] == seen
    assert len(history['refit']['train_rmse']) == best
    # Each epoch's seconds, for the report and benchmarks/trainer_speed.py.
    assert len(history['epoch_seconds']) == 4 and len(history['refit']['epoch_seconds']) == best
    assert all(seconds > 0 for seconds in history['epoch_seconds'])
    # And the seconds of every phase, in the order they ran.
    assert list(history['phase_seconds']) == ['tables', 'fit', 'evaluate', 'refit']
    assert history['phase_seconds']['fit'] >= sum(history['epoch_seconds']) - 0.1
    # The refit restarted the optimizer: it took best epochs of ceil(seen / batch) steps, not
    # those on top of the first fit's 4 x 4.
    assert int(model.optimizer.iterations) == best * math.ceil(seen / 3)
    # The eval RMSE reported is the early-stopped model's, measured on eval it never saw;
    # 4 eval ratings are too few to fit a blend on.
    assert history['eval_rmse'] == pytest.approx(min(history['epochs']['val_rmse']), abs=1e-4)
    assert 'blend' not in history


@pytest.mark.parametrize('larger_from, batch', [(0, 5), (1, 3)])
def test_the_fit_and_the_refit_take_the_batch_the_train_splits_size_chose(
        larger_from, batch, columns, sizes, tmp_path):
    """Train reaches the larger batch's size, or falls one example short of it, where
    train + eval (the refit's split) reaches it: the refit keeps the fit's batch either
    way, as it keeps its epochs and the decay per step that suits them."""
    train_examples = len(columns[features.LABEL])
    settings = hparams(epochs=2, early_stopping_patience=10, batch_size=3, ensemble_size=1,
                       larger_batches=((train_examples + larger_from, 5),),
                       averaged_epochs_around_best=0)
    model, history = trainer.train(settings, dict(columns), eval_rows(), sizes, WHOLE_STARS,
                                   log_dir=str(tmp_path))
    assert history['batch_size'] == batch
    best = history['refit']['epochs']
    assert int(model.optimizer.iterations) == best * math.ceil((train_examples + 4) / batch)
    assert model.optimizer.row_decay == pytest.approx(
        settings.embedding_decay_per_epoch / math.ceil(train_examples / batch))


def many_eval_rows(columns, count=1000):
    """`count` ratings of the training pairs, every one 5 stars: enough for fit_blend, and
    what a blend (offset 5, weights 0) rates exactly, as the members' mean does not."""
    pairs = np.arange(count) % len(columns[features.LABEL])
    return {features.USER_INDEX: columns[features.USER_INDEX][pairs],
            features.MOVIE_INDEX: columns[features.MOVIE_INDEX][pairs],
            features.LABEL: np.full(count, 5.0, np.float32)}


def test_the_blend_fitted_on_eval_is_served_and_kept_by_the_refit(columns, sizes, tmp_path):
    settings = hparams(epochs=2, early_stopping_patience=10, batch_size=3, ensemble_size=2,
                       averaged_epochs_around_best=0)
    eval_split = many_eval_rows(columns)
    model, history = trainer.train(settings, dict(columns), eval_split, sizes, WHOLE_STARS,
                                   log_dir=str(tmp_path))
    blend = history['blend']
    assert list(blend['kind_weights']) == list(dict.fromkeys(model.scorer.member_kinds))
    np.testing.assert_allclose(list(blend['kind_weights'].values()), 0.0, atol=1e-3)
    assert blend['offset'] == pytest.approx(5.0, abs=1e-3)
    assert history['eval_rmse'] < 1e-3 < blend['unblended_eval_rmse']
    # The refit restarted every other weight, but serves the blend chosen on eval.
    assert history['refit']['epochs'] >= 1
    # One weight per kind, shared by its members: two hybrid ones, then each biased MF one.
    kinds = model.scorer.member_kinds
    assert len(kinds) == 4 and kinds[:2] == (ranking_model.HYBRID_MEMBER,) * 2
    np.testing.assert_allclose(
        model.blend_weights.numpy(),
        [blend['kind_weights'][kind] / kinds.count(kind) for kind in kinds], atol=1e-6)
    assert float(model.blend_offset) == pytest.approx(blend['offset'])
    served = model({key: tf.constant(value[:5]) for key, value in eval_split.items()})
    np.testing.assert_allclose(served.numpy(), 5.0, atol=1e-3)


@pytest.mark.parametrize('refit', [False, True])
def test_a_blend_no_better_on_eval_than_the_mean_is_not_served(refit, columns, sizes,
                                                                tmp_path, monkeypatch):
    def worse(model, data, scale):
        return trainer.Blend(member_weights=np.array([1.0, 0.0, 0.0, 0.0]),
                             kind_weights={'hybrid': 1.0}, offset=1.0, eval_rmse=10.0)

    monkeypatch.setattr(trainer, 'fit_blend', worse)
    settings = hparams(epochs=2, early_stopping_patience=10, batch_size=3, ensemble_size=2,
                       averaged_epochs_around_best=0, refit_on_eval=refit)
    model, history = trainer.train(settings, dict(columns), many_eval_rows(columns), sizes,
                                   WHOLE_STARS, log_dir=str(tmp_path))
    assert 'blend' not in history
    assert history['eval_rmse'] == pytest.approx(min(history['epochs']['val_rmse']), abs=1e-4)
    np.testing.assert_allclose(model.blend_weights.numpy(), [1 / 4] * 4)
    assert float(model.blend_offset) == 0.0


def _recording_epoch_weights(monkeypatch):
    """Makes each fit's EpochWeights also keep every epoch's weights; returns them by fit."""
    fits = []

    class Recording(trainer.EpochWeights):
        def __init__(self, radius):
            super().__init__(radius)
            self.every = {}
            fits.append(self.every)

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            self.every[epoch + 1] = self.weights[epoch + 1]

    monkeypatch.setattr(trainer, 'EpochWeights', Recording)
    return fits


def _assert_weights_are_the_mean(model, every, first, last):
    for index, variable in enumerate(model.trainable_variables):
        np.testing.assert_allclose(
            variable.numpy(),
            np.mean([every[number][index] for number in range(first, last + 1)], axis=0),
            rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('refit', [False, True])
def test_averaged_weights_are_the_mean_of_the_epochs_around_the_best(
        refit, columns, sizes, tmp_path, monkeypatch):
    fits = _recording_epoch_weights(monkeypatch)
    # Eval RMSE as measured for the best epoch's weights, then for their mean: the mean is
    # better, so it is kept (test_an_average_that_does_worse_on_eval_is_not_kept).
    measured = iter([0.9, 0.8])
    monkeypatch.setattr(trainer, 'rmse', lambda model, data: next(measured))
    settings = hparams(epochs=5, early_stopping_patience=10, batch_size=3, ensemble_size=2,
                       averaged_epochs_around_best=1, refit_on_eval=refit, blend_on_eval=False)
    model, history = trainer.train(settings, dict(columns), eval_rows(), sizes, WHOLE_STARS,
                                   log_dir=str(tmp_path))
    best = int(np.argmin(history['epochs']['val_rmse'])) + 1
    first, last = max(1, best - 1), min(5, best + 1)
    assert history['averaged_epochs'] == [first, last]
    assert len(fits[0]) == 5
    if not refit:
        _assert_weights_are_the_mean(model, fits[0], first, last)
        assert history['eval_rmse'] == 0.8  # the mean's
        return
    # The refit trains as many epochs as the average used, and serves the mean of the same.
    assert history['refit']['epochs'] == last == len(fits[1])
    assert len(history['refit']['train_rmse']) == last
    assert history['refit']['averaged_epochs'] == [first, last]
    _assert_weights_are_the_mean(model, fits[1], first, last)


def test_an_average_that_does_worse_on_eval_is_not_kept(columns, sizes, tmp_path,
                                                        monkeypatch):
    average = trainer.average_epochs

    def spoiled(model, epoch_weights, first, last):
        average(model, epoch_weights, first, last)
        if first < last:  # a mean, not the fallback to the best epoch alone
            for variable in model.trainable_variables:
                variable.assign(variable * 3.0)

    monkeypatch.setattr(trainer, 'average_epochs', spoiled)
    settings = hparams(epochs=4, early_stopping_patience=10, batch_size=3, ensemble_size=2,
                       averaged_epochs_around_best=1, blend_on_eval=False)
    model, history = trainer.train(settings, dict(columns), eval_rows(), sizes, WHOLE_STARS,
                                   log_dir=str(tmp_path))
    best = int(np.argmin(history['epochs']['val_rmse'])) + 1
    assert 'averaged_epochs' not in history
    assert history['eval_rmse'] == pytest.approx(min(history['epochs']['val_rmse']), abs=1e-4)
    # The refit then trains the best epoch count, unaveraged.
    assert history['refit']['epochs'] == best
    assert 'averaged_epochs' not in history['refit']


def test_epoch_weights_keeps_the_epochs_an_average_around_the_best_can_use():
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer='sgd', loss='mse')
    kept = trainer.EpochWeights(radius=1)
    kept.set_model(model)
    # Each epoch's weights are its number, so that a mean is easy to check.
    for epoch, val_rmse in enumerate([3.0, 2.0, 1.0, 1.5, 1.7, 1.9]):
        for variable in model.trainable_variables:
            variable.assign(tf.fill(variable.shape, float(epoch + 1)))
        kept.on_epoch_end(epoch, {'val_rmse': val_rmse})
    # The best is epoch 3: from the one before it on, none earlier.
    assert sorted(kept.weights) == [2, 3, 4, 5, 6]
    trainer.average_epochs(model, kept, 2, 4)
    for variable in model.trainable_variables:
        np.testing.assert_allclose(variable.numpy(), 3.0)
    # A later best moves the window.
    kept.on_epoch_end(6, {'val_rmse': 0.5})
    assert sorted(kept.weights) == [6, 7]
    # Without eval (the refit), the last 2 x radius + 1.
    refit = trainer.EpochWeights(radius=1)
    refit.set_model(model)
    for epoch in range(5):
        refit.on_epoch_end(epoch, {'rmse': 1.0})
    assert sorted(refit.weights) == [3, 4, 5]


@pytest.mark.parametrize('patience', [0, 1])
def test_averaging_past_the_patience_is_refused(patience, columns, sizes, tmp_path):
    settings = hparams(early_stopping_patience=patience, averaged_epochs_around_best=2)
    with pytest.raises(ValueError, match='early_stopping_patience of at least'):
        trainer.train(settings, dict(columns), eval_rows(), sizes, WHOLE_STARS,
                      log_dir=str(tmp_path))


def test_without_refit_the_early_stopped_model_is_served(columns, sizes, tmp_path):
    settings = hparams(epochs=2, refit_on_eval=False, batch_size=4)
    model, history = trainer.train(settings, dict(columns), eval_rows(), sizes, WHOLE_STARS,
                                   log_dir=str(tmp_path))
    assert 'refit' not in history
    assert len(history['epochs']['rmse']) == 2
    # Exactly an epoch's batches each epoch, and no step more: the embeddings' decay per
    # epoch is spread over these steps.
    assert int(model.optimizer.iterations) == 2 * math.ceil(len(columns[features.LABEL]) / 4)


def test_refit_tables_hold_the_eval_ratings_too(columns, sizes):
    train_only = trainer.build_catalog_tables(columns, sizes, 100, seed=0)
    refit = trainer.build_catalog_tables(columns, sizes, 100, seed=0, also_seen=eval_rows())
    train_counts = np.diff(train_only.rated_row_splits)
    # User 3 rated one movie in train and two more in eval; user 2 one more; the OOV user 4
    # gets eval's rating of an unknown user.
    assert (np.diff(refit.rated_row_splits) - train_counts).tolist() == [0, 0, 1, 2, 1]
    first_of_user_3 = refit.rated_row_splits[3]
    assert sorted(refit.rated_movies[first_of_user_3:first_of_user_3 + 3]) == [0, 1, 2]
    labels = np.concatenate([columns[features.LABEL], eval_rows()[features.LABEL]])
    assert refit.rating_mean == pytest.approx(labels.mean())
    assert (refit.user_ratings - train_only.user_ratings).tolist() == [0, 0, 1, 2, 1]
    assert (refit.movie_ratings - train_only.movie_ratings).tolist() == [1, 1, 1, 1, 0]
    # Side features come from train alone, where every user and movie of the vocabulary is.
    np.testing.assert_array_equal(refit.movie_genres, train_only.movie_genres)


def test_the_refit_counts_what_the_biased_mf_members_penalise_on_train_and_eval(columns,
                                                                              sizes):
    train_only = trainer.build_catalog_tables(columns, sizes, 100, seed=0)
    refit = trainer.build_catalog_tables(columns, sizes, 100, seed=0, also_seen=eval_rows())
    scorer = ranking_model.HybridScorer(sizes[features.USER_INDEX],
                                        sizes[features.MOVIE_INDEX], train_only,
                                        hparams(biased_mf_penalties=((1.0, 'row'),)))
    scorer.use_tables(refit)
    np.testing.assert_array_equal(scorer.biased_mf._user_ratings.numpy(), refit.user_ratings)
    np.testing.assert_array_equal(scorer.biased_mf._movie_ratings.numpy(), refit.movie_ratings)
    np.testing.assert_allclose(scorer.biased_mf.global_mean.numpy(), [refit.rating_mean])


def test_the_bias_baseline_is_refitted_on_what_the_model_saw(columns, sizes):
    chosen, eval_rmse = trainer.fit_bias_baseline(hparams(refit_on_eval=False), columns,
                                                  eval_rows(), sizes, WHOLE_STARS)
    refit, refit_eval_rmse = trainer.fit_bias_baseline(hparams(), columns, eval_rows(), sizes,
                                                       WHOLE_STARS)
    # The regularisation and its eval RMSE are chosen on train; only the fit sees eval.
    assert refit.regularisation == chosen.regularisation
    assert refit_eval_rmse == eval_rmse
    labels = np.concatenate([columns[features.LABEL], eval_rows()[features.LABEL]])
    assert refit.mean == pytest.approx(labels.mean())
    # The OOV user has eval's rating of 2 stars now: a negative bias, not 0.
    assert chosen.user_bias[4] == 0.0 and refit.user_bias[4] < 0.0


def test_centred_ratings_are_each_users_ratings_minus_their_mean():
    centred = trainer.centred_ratings(np.array([0, 0, 1, 1, 1]),
                                      np.array([1.0, 3.0, 5.0, 4.0, 3.0]), users=3)
    np.testing.assert_allclose(centred, [-1.0, 1.0, 1.0, 0.0, -1.0])


def test_explicit_feedback_moves_a_users_vector_with_how_they_rated(columns, sizes):
    tables = trainer.build_catalog_tables(columns, sizes, 100, seed=0)
    scorer = ranking_model.HybridScorer(sizes[features.USER_INDEX],
                                        sizes[features.MOVIE_INDEX], tables,
                                        hparams(explicit_feedback=True, ensemble_size=2))
    users = np.array([0, 1, 2])
    before = scorer._implicit_feedback(users).numpy()
    assert before.shape == (3, 2 * configs.HYBRID_HYPERPARAMETERS['embedding_dim'])
    # Flipping how user 0 rated their movies changes user 0's vector alone.
    scorer._rated_ratings.assign(np.where(
        np.arange(len(tables.rated_ratings)) < tables.rated_row_splits[1],
        -tables.rated_ratings, tables.rated_ratings))
    after = scorer._implicit_feedback(users).numpy()
    assert not np.allclose(before[0], after[0])
    np.testing.assert_allclose(before[1:], after[1:])


def test_work_in_the_background_hands_over_its_result_or_its_error():
    # The Trainer fits the bias baseline so, beside the catalog tables.
    assert trainer.in_background(sum, [1, 2], start=3).result() == 6

    def fails():
        raise ValueError('no ratings')

    with pytest.raises(ValueError, match='no ratings'):
        trainer.in_background(fails).result()


def test_work_in_the_background_is_waited_for_before_the_fit(columns, sizes, tmp_path):
    # run_fn's bias baseline: its error comes before a fit, not after it.
    failed = concurrent.futures.Future()
    failed.set_exception(ValueError('no regularisation to choose from'))
    with pytest.raises(ValueError, match='no regularisation to choose from'):
        trainer.train(hparams(), dict(columns), eval_rows(), sizes, WHOLE_STARS,
                      log_dir=str(tmp_path), wait_for=[failed])
    assert os.listdir(tmp_path) == []  # no epoch began: TensorBoard logs none


def test_each_fit_reads_the_neighbourhood_averages_of_the_tables_it_rates_with(
        columns, sizes, tmp_path, monkeypatch):
    """The fit and its evaluations read averages from train's tables; the refit, whose tables
    hold eval's ratings too, from its own."""
    read = {'train': [], 'eval': []}
    training_batches, eval_batches = trainer.training_batches, trainer.eval_batches
    monkeypatch.setattr(trainer, 'training_batches', lambda split, *args: read['train'].append(
        split) or training_batches(split, *args))
    monkeypatch.setattr(trainer, 'eval_batches', lambda split: read['eval'].append(
        split) or eval_batches(split))
    rows = len(columns[features.LABEL])
    held_out = np.arange(rows) % 5 == 0
    train_split = {key: value[~held_out] for key, value in columns.items()}
    eval_split = {key: columns[key][held_out] for key in trainer.EVAL_COLUMNS}
    settings = hparams(epochs=1, early_stopping_patience=1, neighbours=2,
                       averaged_epochs_around_best=0, ensemble_size=1)
    fit_tables = trainer.build_catalog_tables(
        dict(train_split), sizes, settings.implicit_feedback_limit, settings.seed,
        neighbours=settings.neighbours)
    model, _ = trainer.train(settings, train_split, eval_split, sizes, WHOLE_STARS,
                             log_dir=str(tmp_path))
    [fit, refit], [evaluated] = read['train'], read['eval']
    average = ranking_model.NEIGHBOURHOOD_AVERAGE

    def expected(split):
        return model.scorer.neighbourhood_average(split[features.USER_INDEX],
                                                  split[features.MOVIE_INDEX])

    np.testing.assert_allclose(refit[average], expected(refit), atol=1e-6)  # refit's tables
    assert len(refit[average]) == rows
    model.scorer.use_tables(fit_tables)
    np.testing.assert_allclose(fit[average], expected(fit), atol=1e-6)
    np.testing.assert_allclose(evaluated[average], expected(evaluated), atol=1e-6)
    assert not np.allclose(fit[average], refit[average][:len(fit[average])])
