"""Adam that updates only the embedding rows a batch looked up, with lazy weight decay.

Keras's Adam, given the sparse gradient of an embedding lookup, still decays the moments of
every row and moves every row of the table, and an L2 penalty on a whole table makes its
gradient dense; either way a step costs the size of the vocabulary, not of the batch. At
10M ratings (60k users, 20k movies, 96 floats per row) that was about 50 ms of each step,
a quarter of the Trainer's time, and the reason its cost grew faster than the data.

Here a row's Adam moments change only when the row is looked up, as in TF Addons'
LazyAdam. Rows shrink by decoupled weight decay (as in AdamW: each step multiplies a row by
1 - learning_rate * row_decay), which keeps the regularisation that mattered: rows seen
rarely, like a movie with two ratings, drift back to zero between their updates. The decay a
row missed is applied when it is next updated (that step's forward pass still sees the row as
its last update left it), and to every row by `catch_up()` before the model is evaluated.
Tables named in Keras's exclude_from_weight_decay keep their rows undecayed (a model that
regularises them otherwise). Dense gradients (the MLP, the global mean) follow Keras's Adam
unchanged.
"""
import tensorflow as tf


class LazyAdam(tf.keras.optimizers.Adam):
    """Keras's Adam for dense gradients; lazy Adam with row decay for embedding tables."""

    def __init__(self, learning_rate: float, row_decay: float = 0.0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.row_decay = row_decay
        # Keys of the tables given sparse gradients, learnt as the train step is traced;
        # a matrix with dense gradients (a Dense kernel) is neither decayed nor caught up.
        self._sparse_keys = set()

    def build(self, var_list):
        super().build(var_list)
        if hasattr(self, '_row_steps'):
            return
        # Per matrix that could be a table: the step up to which each row's decay has been
        # applied.
        self._row_steps = {self._var_key(var): self.add_variable(
            (var.shape[0],), tf.int64, name=f'{var._shared_name}/row_steps')
            for var in var_list if len(var.shape) == 2}

    def _decayed(self, rows_value, row_steps, now):
        """Rows multiplied by the decay of the steps since their last update."""
        keep = 1.0 - tf.cast(self.learning_rate, rows_value.dtype) * self.row_decay
        missed = tf.cast(now - row_steps, rows_value.dtype)
        return rows_value * tf.pow(keep, missed)[:, tf.newaxis]

    def _deduplicate_sparse_grad(self, grads):
        """Keras sums the gradients of repeated rows before update_step. Rows already in
        ascending order, each once, as the SVD++ sums look up a batch's movies, need no sum,
        and Keras's (a hash of every row, a copy of its values) is about a sixth of the update
        of such a table; checking the order is one comparison a row."""
        keras_sum = super()._deduplicate_sparse_grad

        def summed(gradient):
            if not isinstance(gradient, tf.IndexedSlices):
                return gradient

            def repeats_summed():
                [once] = keras_sum([gradient])
                return once.values, once.indices

            rows = gradient.indices
            values, rows = tf.cond(tf.reduce_all(rows[1:] > rows[:-1]),
                                   lambda: (gradient.values, rows), repeats_summed)
            return tf.IndexedSlices(values, rows, gradient.dense_shape)

        return [summed(gradient) for gradient in grads]

    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        # Keras has already summed the gradients of repeated rows (one index per row).
        rows, values = gradient.indices, gradient.values
        key = self._var_key(variable)
        if key not in self._row_steps:
            raise ValueError(f'LazyAdam: {variable.name} has a sparse gradient but is not a '
                             'table (rows x width); only embedding tables can be updated by row.')
        decays = self._use_weight_decay(variable)
        if decays:
            self._sparse_keys.add(key)
        now = tf.cast(self.iterations + 1, tf.int64)
        step = tf.cast(now, variable.dtype)
        beta_1 = tf.cast(self.beta_1, variable.dtype)
        beta_2 = tf.cast(self.beta_2, variable.dtype)
        alpha = (tf.cast(self.learning_rate, variable.dtype)
                 * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step)))
        m = self._momentums[self._index_dict[key]]
        v = self._velocities[self._index_dict[key]]
        row_steps = self._row_steps[key]
        # This step's decay included, as AdamW decays before it moves a row.
        decayed = tf.gather(variable, rows)
        if decays:
            decayed = self._decayed(decayed, tf.gather(row_steps, rows), now)
            row_steps.scatter_update(tf.IndexedSlices(tf.fill(tf.shape(rows), now), rows))
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_update(tf.IndexedSlices(
            decayed - alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))

    def get_config(self):
        return dict(super().get_config(), row_decay=self.row_decay)

    def catch_up(self, variables):
        """Applies to every row of every decayed table the decay it has missed so far."""
        now = tf.cast(self.iterations, tf.int64)
        for variable in variables:
            key = self._var_key(variable)
            if key in self._sparse_keys:
                row_steps = self._row_steps[key]
                variable.assign(self._decayed(variable, row_steps, now))
                row_steps.assign(tf.fill(tf.shape(row_steps), now))


def catch_up_rows(model: tf.keras.Model):
    """Applies to every row of the model's tables the decay it has missed, if the model
    trains with LazyAdam; other optimizers have nothing to catch up."""
    if isinstance(model.optimizer, LazyAdam):
        model.optimizer.catch_up(model.trainable_variables)


class CatchUpDecay(tf.keras.callbacks.Callback):
    """Brings every row up to date before each evaluation, so that the eval metrics, early
    stopping and the weights it keeps see the model that training has made."""

    def on_test_begin(self, logs=None):
        catch_up_rows(self.model)
