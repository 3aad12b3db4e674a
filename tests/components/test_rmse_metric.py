"""The Evaluator's error metrics against NumPy, against the Keras metric RMSE replaces and
against TFMA's own MeanAbsoluteError and ExampleCount."""
import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma

from components import rmse_metric as metrics

LABELS = np.array([1.0, 5.0, 3.0, 4.0, 2.0])
PREDICTIONS = np.array([1.5, 4.0, 3.0, 2.5, 2.0])
EVAL_CONFIG = tfma.EvalConfig(model_specs=[tfma.ModelSpec()])


def combine(metric, weights=None, workers=2):
    """{metric name: value} from the metric's one combiner, over the merged accumulators of
    `workers` workers. TFMA's own combiners are given one: their merge_accumulators counts
    the first accumulator of a list twice."""
    [computation] = metric.computations(eval_config=EVAL_CONFIG,
                                        example_weighted=weights is not None)
    combiner = computation.combiner
    accumulators = []
    for worker in range(workers):
        accumulator = combiner.create_accumulator()
        for i in range(worker, len(LABELS), workers):
            accumulator = combiner.add_input(accumulator, tfma.metrics.StandardMetricInputs(
                labels=np.array([LABELS[i]]), predictions=np.array([PREDICTIONS[i]]),
                example_weights=np.array([1.0 if weights is None else weights[i]])))
        accumulators.append(accumulator)
    output = combiner.extract_output(combiner.merge_accumulators(accumulators))
    return {key.name: value for key, value in output.items()}


def test_rmse_matches_numpy_and_keras():
    expected = np.sqrt(np.mean((LABELS - PREDICTIONS) ** 2))  # 0.8367
    keras = tf.keras.metrics.RootMeanSquaredError()
    keras.update_state(LABELS, PREDICTIONS)
    rmse = combine(metrics.RootMeanSquaredError())[metrics.RMSE_NAME]
    assert np.isclose(rmse, expected)
    assert np.isclose(rmse, keras.result().numpy(), rtol=1e-6)


def test_mae_and_count_are_tfmas_under_tfmas_keys():
    ours = combine(metrics.RootMeanSquaredError())
    assert set(ours) == {metrics.RMSE_NAME, metrics.MAE_NAME, metrics.EXAMPLE_COUNT_NAME}
    assert np.isclose(ours[metrics.MAE_NAME], np.mean(np.abs(LABELS - PREDICTIONS)))  # 0.6
    tfma_mae = combine(tfma.metrics.MeanAbsoluteError(), workers=1)[metrics.MAE_NAME]
    assert ours[metrics.MAE_NAME] == tfma_mae
    assert ours[metrics.EXAMPLE_COUNT_NAME] == len(LABELS)
    assert ours[metrics.EXAMPLE_COUNT_NAME] == \
        combine(tfma.metrics.ExampleCount(), workers=1)[metrics.EXAMPLE_COUNT_NAME]


def test_errors_weight_examples_but_the_count_does_not():
    weights = np.array([0.0, 0.0, 1.0, 1.0, 2.0])
    ours = combine(metrics.RootMeanSquaredError(), weights)
    assert np.isclose(ours[metrics.RMSE_NAME], np.sqrt(1.5 ** 2 / 4))
    assert np.isclose(ours[metrics.MAE_NAME], 1.5 / 4)
    assert ours[metrics.EXAMPLE_COUNT_NAME] == len(LABELS)
