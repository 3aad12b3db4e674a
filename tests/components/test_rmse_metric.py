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


# The pipeline's two model specs: examples carry both models' ratings and the candidate's
# bias baseline, keyed by model name, as TFMA hands them to the combiner.
TWO_MODELS = tfma.EvalConfig(model_specs=[
    tfma.ModelSpec(name=tfma.CANDIDATE_KEY, label_key='user_rating',
                   prediction_key=metrics.PREDICTION_KEY),
    tfma.ModelSpec(name=tfma.BASELINE_KEY, label_key='user_rating',
                   prediction_key=metrics.PREDICTION_KEY, is_baseline=True)])


def generated_inputs(n=2000, seed=0):
    """Half-star labels (float32, as parsed from tf.Examples), float32 ratings of two models
    and the candidate's bias baseline, one example each."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 11, n).astype(np.float32) / 2
    rated = {name: (labels + rng.normal(0, 0.9, n)).astype(np.float32)
             for name in (tfma.CANDIDATE_KEY, tfma.BASELINE_KEY, 'bias')}
    for i in range(n):
        yield tfma.metrics.StandardMetricInputs(
            labels={name: np.array([labels[i]]) for name in rated if name != 'bias'},
            predictions={
                tfma.CANDIDATE_KEY: {metrics.PREDICTION_KEY: rated[tfma.CANDIDATE_KEY][i:i + 1],
                                     metrics.BIAS_BASELINE_PREDICTION_KEY:
                                         rated['bias'][i:i + 1]},
                tfma.BASELINE_KEY: {metrics.PREDICTION_KEY: rated[tfma.BASELINE_KEY][i:i + 1]}},
            example_weights={name: np.array([1.0]) for name in rated if name != 'bias'})


def test_the_direct_reading_gives_tfmas_general_values():
    computations = metrics.BiasBaselineImprovement().computations(
        eval_config=TWO_MODELS, model_names=[tfma.CANDIDATE_KEY, tfma.BASELINE_KEY])
    combiners = [c.combiner for c in computations
                 if isinstance(c, tfma.metrics.MetricComputation)]
    assert len(combiners) == 2
    inputs = list(generated_inputs())
    for combiner in combiners:
        direct, general = combiner.create_accumulator(), combiner.create_accumulator()
        for element in inputs:
            assert combiner._direct(element) is not None, 'the pipeline\'s shape is read directly'
            direct = combiner.add_input(direct, element)
            general = combiner._add_input_generally(general, element)
        direct, general = combiner.extract_output(direct), combiner.extract_output(general)
        assert direct.keys() == general.keys()
        name = combiner.keys.rmse.model_name
        assert (combiner.keys.bias_baseline_rmse in direct) == (name == tfma.CANDIDATE_KEY)
        for key, value in general.items():
            assert abs(direct[key] - value) < 1e-6, (key, direct[key], value)
        assert direct[combiner.keys.count] == len(inputs)
        assert 0.8 < direct[combiner.keys.rmse] < 1.0


def test_a_slice_of_a_batch_counts_as_its_examples():
    """components/evaluator_extractors.py hands the combiner several examples in one extract."""
    [computation] = metrics.RootMeanSquaredError().computations(eval_config=EVAL_CONFIG)
    combiner = computation.combiner
    accumulator = combiner.create_accumulator()
    for rows in (slice(0, 2), slice(2, 5)):
        accumulator = combiner.add_input(accumulator, tfma.metrics.StandardMetricInputs(
            labels=LABELS[rows].reshape(-1, 1), predictions=PREDICTIONS[rows].reshape(-1, 1),
            example_weights=None))
    output = {key.name: value for key, value in combiner.extract_output(accumulator).items()}
    assert output == combine(metrics.RootMeanSquaredError())


def test_other_shapes_are_left_to_tfmas_general_reading():
    [computation] = metrics.RootMeanSquaredError().computations(eval_config=EVAL_CONFIG)
    combiner = computation.combiner
    # An output that the spec's prediction_key does not name, under a key TFMA knows.
    other_output = tfma.metrics.StandardMetricInputs(
        labels=np.array([3.0]), predictions={'predictions': np.array([2.0])},
        example_weights=np.array([1.0]))
    assert combiner._direct(other_output) is None
    output = combiner.extract_output(combiner.add_input(combiner.create_accumulator(),
                                                        other_output))
    assert np.isclose(output[combiner.keys.rmse], 1.0)
