"""LazyAdam: Keras's AdamW on the rows a batch looks up, and nothing on the others until
their decay is caught up."""
import numpy as np
import tensorflow as tf

from models.ranking.lazy_adam import CatchUpDecay, LazyAdam

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
