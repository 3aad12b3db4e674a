"""LazyAdam: Keras's AdamW on the rows a batch looks up, and nothing on the others until
their decay is caught up; and the decay per epoch that the Trainer gives it."""
import numpy as np
import pytest
import tensorflow as tf

from models.ranking import trainer
from models.ranking.hyperparameters import Hyperparameters
from models.ranking.lazy_adam import CatchUpDecay, LazyAdam
from pipeline import configs

LEARNING_RATE, DECAY = 0.1, 0.5


def table():
    return tf.Variable(np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))


def step(optimizer, variable, rows, scale=1.0):
    """One step with the sparse gradient of sum(scale * lookup(rows) ** 2)."""
    with tf.GradientTape() as tape:
        loss = scale * tf.reduce_sum(tf.square(tf.gather(variable, rows)))
    [gradient] = tape.gradient(loss, [variable])
    assert isinstance(gradient, tf.IndexedSlices)
    optimizer.apply_gradients([(gradient, variable)])


def test_rows_looked_up_at_every_step_follow_keras_adamw():
    lazy, dense = table(), table()
    lazy_optimizer = LazyAdam(LEARNING_RATE, row_decay=DECAY)
    adamw = tf.keras.optimizers.AdamW(LEARNING_RATE, weight_decay=DECAY)
    for scale in (1.0, -2.0, 0.5):
        step(lazy_optimizer, lazy, [0, 1, 2, 3, 4, 5, 2], scale)  # row 2 twice
        step(adamw, dense, [0, 1, 2, 3, 4, 5, 2], scale)
    np.testing.assert_allclose(lazy.numpy(), dense.numpy(), rtol=1e-5, atol=1e-5)


def test_other_rows_wait_then_catch_up_their_decay():
    variable = table()
    before = variable.numpy()
    optimizer = LazyAdam(LEARNING_RATE, row_decay=DECAY)
    for _ in range(3):
        step(optimizer, variable, [0, 1])
    np.testing.assert_array_equal(variable.numpy()[2:], before[2:])
    assert not np.allclose(variable.numpy()[:2], before[:2])

    optimizer.catch_up([variable])
    keep = (1 - LEARNING_RATE * DECAY) ** 3
    np.testing.assert_allclose(variable.numpy()[2:], before[2:] * keep, rtol=1e-6)
    caught_up = variable.numpy()
    optimizer.catch_up([variable])  # nothing more to apply
    np.testing.assert_allclose(variable.numpy(), caught_up, rtol=1e-6)


def test_without_decay_unseen_rows_and_their_moments_stay_put():
    variable = table()
    before = variable.numpy()
    optimizer = LazyAdam(LEARNING_RATE)
    step(optimizer, variable, [1])
    step(optimizer, variable, [4])
    changed = np.any(variable.numpy() != before, axis=1)
    assert changed.tolist() == [False, True, False, False, True, False]
    [m] = [slot for slot in optimizer.variables if '/m/' in '/' + slot.name]
    assert np.flatnonzero(np.any(m.numpy() != 0, axis=1)).tolist() == [1, 4]


def test_a_table_excluded_from_weight_decay_moves_as_adam_without_decay():
    decayed, excluded, adam_alone = table(), tf.Variable(table(), name='kept_whole'), table()
    optimizer = LazyAdam(LEARNING_RATE, row_decay=DECAY)
    optimizer.exclude_from_weight_decay(var_names=['kept_whole'])
    plain = LazyAdam(LEARNING_RATE)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(tf.gather(decayed, [0, 1]))) + tf.reduce_sum(
                tf.square(tf.gather(excluded, [0, 1])))
        optimizer.apply_gradients(zip(tape.gradient(loss, [decayed, excluded]),
                                      [decayed, excluded]))
        step(plain, adam_alone, [0, 1])
    optimizer.catch_up([decayed, excluded])
    np.testing.assert_allclose(excluded.numpy(), adam_alone.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(excluded.numpy()[2:], table().numpy()[2:])
    assert not np.allclose(decayed.numpy()[2:], table().numpy()[2:])


@pytest.mark.slow  # a Keras fit: its first trace alone takes seconds
def test_the_callback_catches_up_before_evaluation():
    inputs = tf.keras.Input(shape=(), dtype=tf.int32)
    embedding = tf.keras.layers.Embedding(50, 2)
    model = tf.keras.Model(inputs, tf.reduce_sum(embedding(inputs), axis=1))
    model.compile(optimizer=LazyAdam(LEARNING_RATE, row_decay=DECAY), loss='mse')
    unseen_before = embedding.embeddings.numpy()[10:]
    seen = tf.data.Dataset.from_tensor_slices(([0, 1, 2, 3], [1.0, 1.0, 1.0, 1.0])).batch(2)
    model.fit(seen, validation_data=seen, epochs=1, callbacks=[CatchUpDecay()], verbose=0)
    keep = (1 - LEARNING_RATE * DECAY) ** 2  # two steps
    np.testing.assert_allclose(embedding.embeddings.numpy()[10:], unseen_before * keep,
                               rtol=1e-5)


def test_matrices_with_dense_gradients_are_not_decayed():
    kernel = table()
    optimizer = LazyAdam(LEARNING_RATE, row_decay=DECAY)
    reference = tf.keras.optimizers.Adam(LEARNING_RATE)
    expected = table()
    for _ in range(2):
        for optimizer_, variable in ((optimizer, kernel), (reference, expected)):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(variable))  # a dense gradient
            optimizer_.apply_gradients(zip(tape.gradient(loss, [variable]), [variable]))
    optimizer.catch_up([kernel])
    np.testing.assert_allclose(kernel.numpy(), expected.numpy(), rtol=1e-6)


def test_a_row_looked_up_again_first_takes_the_decay_it_missed():
    """Row 2 is looked up at steps 1 and 4: at step 4 it decays for steps 2, 3 and 4, then
    moves by moments that skipped steps 2 and 3. (Its gradient at step 4 is that of the row
    as step 1 left it: the decay is applied as the row is updated.)"""
    variable = table()
    w0 = variable.numpy()[2].astype(np.float64)
    optimizer = LazyAdam(LEARNING_RATE, row_decay=DECAY)
    for rows in ([0, 2], [0], [0], [0, 2]):
        step(optimizer, variable, rows)

    beta_1, beta_2, epsilon = optimizer.beta_1, optimizer.beta_2, optimizer.epsilon
    keep = 1 - LEARNING_RATE * DECAY

    def alpha(t):
        return LEARNING_RATE * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)

    g1 = 2 * w0
    m1, v1 = (1 - beta_1) * g1, (1 - beta_2) * g1 ** 2
    w1 = w0 * keep - alpha(1) * m1 / (np.sqrt(v1) + epsilon)
    g4 = 2 * w1
    m4, v4 = beta_1 * m1 + (1 - beta_1) * g4, beta_2 * v1 + (1 - beta_2) * g4 ** 2
    w4 = w1 * keep ** 3 - alpha(4) * m4 / (np.sqrt(v4) + epsilon)
    np.testing.assert_allclose(variable.numpy()[2], w4, rtol=1e-5)


def test_the_trainer_decays_an_untouched_row_alike_per_epoch_whatever_the_data_size():
    """The Trainer's decay is per epoch: an epoch of 10 steps and one of 200 shrink a row
    that no batch looks up alike. Per step, the longer epoch would shrink it 20 times more
    (to 0.7% of itself, against 78%)."""
    hparams = Hyperparameters.from_config(configs.HYBRID_HYPERPARAMETERS)
    expected = np.exp(-hparams.learning_rate * hparams.embedding_decay_per_epoch)
    for steps in (10, 200):
        variable = table()
        before = variable.numpy()
        optimizer = trainer.optimizer(hparams, epoch_batches=steps)
        for _ in range(steps):
            step(optimizer, variable, [0])
        optimizer.catch_up([variable])
        np.testing.assert_allclose(variable.numpy()[1:], before[1:] * expected, rtol=5e-3)


def test_rows_in_ascending_order_each_once_skip_the_sum_of_repeats(monkeypatch):
    keras_sums = []
    keras_sum = tf.keras.optimizers.Adam._deduplicate_sparse_grad

    def counted(self, grads):
        keras_sums.append(len(grads))
        return keras_sum(self, grads)

    monkeypatch.setattr(tf.keras.optimizers.Adam, '_deduplicate_sparse_grad', counted)
    optimizer = LazyAdam(LEARNING_RATE, row_decay=DECAY)
    values = tf.constant(np.arange(12, dtype=np.float32).reshape(3, 4))
    shape = tf.constant([6, 4], tf.int64)

    def summed(rows):
        [gradient] = optimizer._deduplicate_sparse_grad([
            tf.IndexedSlices(values, tf.constant(rows, tf.int64), shape)])
        return gradient.indices.numpy().tolist(), gradient.values.numpy()

    # Eagerly, tf.cond runs one branch: Keras's sum runs for repeated rows only.
    ascending_rows, ascending_values = summed([1, 3, 4])
    assert keras_sums == []
    assert ascending_rows == [1, 3, 4]
    np.testing.assert_array_equal(ascending_values, values)
    summed([1, 1, 3])
    assert keras_sums == [1]
    # Repeated rows, adjacent or not, are summed, each row once; also in a traced function,
    # as in the train step.
    @tf.function
    def in_graph(rows):
        [gradient] = optimizer._deduplicate_sparse_grad([tf.IndexedSlices(values, rows, shape)])
        return gradient.values, gradient.indices

    for rows, expected_rows, expected in (
            ([1, 3, 4], [1, 3, 4], values),
            ([1, 1, 3], [1, 3], [values[0] + values[1], values[2]]),
            ([4, 1, 4], [4, 1], [values[0] + values[2], values[1]])):
        got_values, got_rows = in_graph(tf.constant(rows, tf.int64))
        assert got_rows.numpy().tolist() == expected_rows
        np.testing.assert_array_equal(got_values, expected)
    # And a step on rows that skip the sum is Keras's AdamW's, as a step on any rows is.
    lazy, dense = table(), table()
    adamw = tf.keras.optimizers.AdamW(LEARNING_RATE, weight_decay=DECAY)
    for scale in (1.0, -2.0):
        step(optimizer, lazy, [0, 1, 2, 3, 4, 5], scale)
        step(adamw, dense, [0, 1, 2, 3, 4, 5], scale)
    np.testing.assert_allclose(lazy.numpy(), dense.numpy(), rtol=1e-5, atol=1e-5)
