"""The Evaluator's native RMSE against NumPy and against the Keras metric it replaces."""
import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma

from pipeline import metrics

LABELS = np.array([1.0, 5.0, 3.0, 4.0, 2.0])
PREDICTIONS = np.array([1.5, 4.0, 3.0, 2.5, 2.0])


def rmse(weights=None):
    [computation] = metrics.RootMeanSquaredError().computations(
        eval_config=tfma.EvalConfig(model_specs=[tfma.ModelSpec()]),
        example_weighted=weights is not None)
    combiner = computation.combiner
    accumulators = []
    for half in (slice(0, 2), slice(2, None)):  # two workers' accumulators, merged
        accumulator = combiner.create_accumulator()
        for i in range(len(LABELS))[half]:
            accumulator = combiner.add_input(accumulator, tfma.metrics.StandardMetricInputs(
                labels=np.array([LABELS[i]]), predictions=np.array([PREDICTIONS[i]]),
                example_weights=np.array([1.0 if weights is None else weights[i]])))
        accumulators.append(accumulator)
    [(key, value)] = combiner.extract_output(combiner.merge_accumulators(accumulators)).items()
    assert key.name == 'root_mean_squared_error'
    return value


def test_rmse_matches_numpy_and_keras():
    expected = np.sqrt(np.mean((LABELS - PREDICTIONS) ** 2))  # 0.8367
    keras = tf.keras.metrics.RootMeanSquaredError()
    keras.update_state(LABELS, PREDICTIONS)
    assert np.isclose(rmse(), expected)
    assert np.isclose(rmse(), keras.result().numpy(), rtol=1e-6)


def test_rmse_weights_examples():
    weights = np.array([0.0, 0.0, 1.0, 1.0, 2.0])
    assert np.isclose(rmse(weights), np.sqrt(1.5 ** 2 / 4))
