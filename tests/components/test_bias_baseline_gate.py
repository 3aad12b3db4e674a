"""The gate against the user + item bias baseline: the metric's one pass on hand-built TFMA
inputs, the thresholds of both modes, and the pipeline's real Evaluator (TFX's, reading in
batches) on a model that loses to the baseline.

The Evaluator runs on the half-star release of tests/models/data.py (no user features, so
the user_gender and bucketized_user_age slices of configs.SLICES have nothing to slice):
the examples the model was trained on are its test split.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_artifacts

from components import batched_reads, evaluator_extractors
from components import rmse_metric as metrics
from models import features
from models.ranking import signatures
from pipeline import configs
from pipeline import pipeline as pipeline_module
from runs import gate, results
from tests.models import data

LABELS = np.array([1.0, 5.0, 3.0, 4.0, 2.5])
PREDICTIONS = np.array([1.5, 4.0, 3.0, 2.5, 2.0])
BIAS_BASELINE = np.array([2.0, 4.5, 3.5, 3.5, 0.5])
# The pipeline's candidate spec: its predictions are the `evaluate` signature's dict.
EVAL_CONFIG = tfma.EvalConfig(model_specs=[tfma.ModelSpec(
    prediction_key=metrics.PREDICTION_KEY)])


def inputs(i, with_baseline):
    prediction = {signatures.RATING: np.array([PREDICTIONS[i]])}
    if with_baseline:
        prediction[signatures.BIAS_BASELINE_RATING] = np.array([BIAS_BASELINE[i]])
    return tfma.metrics.StandardMetricInputs(labels=np.array([LABELS[i]]), predictions=prediction,
                                             example_weights=np.array([1.0]))


def computed(with_baseline=True):
    """{metric name: value} of both metrics over two workers' merged accumulators."""
    computations = metrics.BiasBaselineImprovement().computations(eval_config=EVAL_CONFIG)
    error, derived = computations
    assert error in metrics.RootMeanSquaredError().computations(eval_config=EVAL_CONFIG), (
        'TFMA would run a second pass unless the two computations are equal')
    combiner = error.combiner
    accumulators = []
    for worker in range(2):
        accumulator = combiner.create_accumulator()
        for i in range(worker, len(LABELS), 2):
            accumulator = combiner.add_input(accumulator, inputs(i, with_baseline))
        accumulators.append(accumulator)
    values = combiner.extract_output(combiner.merge_accumulators(accumulators))
    values.update(derived.result(values))
    return {key.name: value for key, value in values.items()}


def rmse(predictions):
    return np.sqrt(np.mean((LABELS - predictions) ** 2))


def test_one_pass_measures_the_model_and_the_bias_baseline():
    values = computed()
    assert values[metrics.RMSE_NAME] == pytest.approx(rmse(PREDICTIONS))  # 0.7746
    assert values[metrics.BIAS_BASELINE_RMSE_NAME] == pytest.approx(rmse(BIAS_BASELINE))  # 1.0
    assert values[metrics.IMPROVEMENT_NAME] == pytest.approx(
        rmse(BIAS_BASELINE) - rmse(PREDICTIONS))
    assert values[metrics.MAE_NAME] == pytest.approx(np.mean(np.abs(LABELS - PREDICTIONS)))
    assert values[metrics.EXAMPLE_COUNT_NAME] == len(LABELS)


def test_a_model_without_the_bias_baseline_gets_no_improvement():
    # The last blessed model, rated through serving_default, as the Evaluator's baseline.
    values = computed(with_baseline=False)
    assert set(values) == {metrics.RMSE_NAME, metrics.MAE_NAME, metrics.EXAMPLE_COUNT_NAME}
    assert values[metrics.RMSE_NAME] == pytest.approx(rmse(PREDICTIONS))


def overall_thresholds(config):
    """{metric class: threshold} on the whole split."""
    return {metric.class_name: threshold.threshold
            for spec in config.metrics_specs for metric in spec.metrics
            for threshold in metric.per_slice_thresholds}


def test_by_default_the_bias_baseline_is_the_bar():
    config = pipeline_module.eval_config(None, 1e-4, configs.SLICES, 64)
    thresholds = overall_thresholds(config)
    improvement = thresholds[metrics.BiasBaselineImprovement.__name__]
    assert improvement.value_threshold.lower_bound.value == 1e-4
    rmse_threshold = thresholds[metrics.RootMeanSquaredError.__name__]
    assert not rmse_threshold.HasField('value_threshold')
    assert rmse_threshold.change_threshold.absolute.value == -1e-4
    assert [(s.signature_name, s.is_baseline) for s in config.model_specs] == [
        (signatures.EVALUATE, False), (signatures.SERVING_DEFAULT, True)]


def test_rmse_threshold_replaces_the_bias_baseline_as_the_bar():
    config = pipeline_module.eval_config(0.93, 1e-4, configs.SLICES, 64)
    thresholds = overall_thresholds(config)
    assert metrics.BiasBaselineImprovement.__name__ not in thresholds
    assert thresholds[metrics.RootMeanSquaredError.__name__].value_threshold.upper_bound.value \
        == 0.93


# TFX's Evaluator, for real.

@pytest.fixture(scope='module')
def artifacts(tmp_path_factory):
    """(examples, model) artifacts: the half-star rows as the test split, and a model whose
    learning rate is too small to learn anything, so that it predicts about the mean."""
    workdir = tmp_path_factory.mktemp('gate')
    rows = data.half_star_rows()
    transform_output = data.run_transform(str(workdir / 'transform'), rows, data.HALF_STARS)
    model = standard_artifacts.Model()
    model.uri = str(workdir / 'model')
    data.save_serving_model(transform_output, os.path.join(model.uri, 'Format-Serving'),
                            raw_rows=rows, learning_rate=1e-9, epochs=1)
    examples = standard_artifacts.Examples()
    examples.uri = str(workdir / 'examples')
    examples.split_names = artifact_utils.encode_split_names([features.TEST_SPLIT])
    split_dir = os.path.join(examples.uri, f'Split-{features.TEST_SPLIT}')
    os.makedirs(split_dir)
    with tf.io.TFRecordWriter(os.path.join(split_dir, 'data.gz'), 'GZIP') as writer:
        for row in rows:
            writer.write(data.serialize(row))
    return examples, model


@pytest.fixture(scope='module')
def blessed_model(tmp_path_factory):
    """A last blessed model that learnt from two of the four users: to it the other two are
    unseen in training, so their activity buckets differ from the candidate's."""
    workdir = tmp_path_factory.mktemp('blessed')
    rows = [row for row in data.half_star_rows() if row[features.USER_ID] in ([b'10'], [b'11'])]
    transform_output = data.run_transform(str(workdir / 'transform'), rows, data.HALF_STARS)
    model = standard_artifacts.Model()
    model.uri = str(workdir / 'model')
    data.save_serving_model(transform_output, os.path.join(model.uri, 'Format-Serving'),
                            raw_rows=rows, epochs=1)
    return model


def evaluate(artifacts, workdir, rmse_upper_bound, blessed_model=None, per_example=False,
             executor_class=batched_reads.EvaluatorExecutor):
    """Runs the Evaluator as the pipeline configures it (or with TFMA's own per-example
    slicing, or another executor); returns (blessed, the gate's reason, the evaluation)."""
    examples, model = artifacts
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(workdir / 'evaluation'), str(workdir / 'blessing')
    config = pipeline_module.eval_config(rmse_upper_bound, configs.RMSE_MIN_IMPROVEMENT,
                                         configs.SLICES, 64)
    baseline = {'baseline_model': [blessed_model]} if blessed_model else {}
    executor_class(evaluator_executor.Executor.Context(
        beam_pipeline_args=list(configs.BEAM_PIPELINE_ARGS), tmp_dir=str(workdir))).Do(
        {'examples': [examples], 'model': [model], **baseline},
        {'evaluation': [evaluation], 'blessing': [blessing]},
        {'eval_config': json_format.MessageToJson(config),
         'example_splits': json.dumps([features.TEST_SPLIT]),
         **({} if per_example else {'module_path': evaluator_extractors.__name__})})
    result = results.read_evaluation(evaluation)
    return bool(blessing.get_int_custom_property('blessed')), gate.reason(result), result


@pytest.mark.e2e
def test_a_model_worse_than_the_bias_baseline_is_not_blessed(artifacts, tmp_path):
    blessed, reason, result = evaluate(artifacts, tmp_path / 'default', None)
    labels = np.array([row[features.LABEL][0] for row in data.half_star_rows()])
    assert result.rmse == pytest.approx(labels.std(), abs=0.1)  # about the mean, every time
    assert result.bias_baseline_rmse < result.rmse - 0.3
    assert not blessed
    assert reason == (f'not blessed: test RMSE {result.rmse:.4f} does not beat the user + item '
                      f"bias baseline's {result.bias_baseline_rmse:.4f} by at least 0.0001")
    # Slices only of the features the release has; the absent ones are no failure.
    assert {feature for s in result.slices for feature, _ in s.key} == {
        features.USER_ACTIVITY_BUCKET, features.MOVIE_POPULARITY_BUCKET}
    assert result.missing_slices == ()

    # The same model, held to a fixed bound instead, is blessed: the bar above refused it.
    blessed, reason, fixed = evaluate(artifacts, tmp_path / 'fixed', 10.0)
    assert blessed
    assert fixed.rmse == pytest.approx(result.rmse, abs=1e-6)
    assert reason == (f'blessed: test RMSE {fixed.rmse:.4f} is within the bound 10, and there '
                      'was no blessed model to beat')
    assert gate.gate(fixed).bias_baseline_rmse == pytest.approx(result.bias_baseline_rmse)


@pytest.mark.e2e
def test_reading_in_batches_changes_no_metric_of_tfxs_evaluator(artifacts, blessed_model,
                                                                tmp_path, batched_sources):
    ours = evaluate(artifacts, tmp_path / 'ours', None, blessed_model)
    # The test split, with the raw records that TFMA hands to both models.
    assert [reader.raw_record_column_name for reader in batched_sources] == [
        tfma.constants.ARROW_INPUT_COLUMN]
    tfxs = evaluate(artifacts, tmp_path / 'tfx', None, blessed_model,
                    executor_class=evaluator_executor.Executor)
    assert len(batched_sources) == 1
    assert ours == tfxs
    assert ours[2].baseline_rmse is not None and len(ours[2].slices) > 1


@pytest.mark.e2e
def test_with_a_blessed_model_each_example_is_in_one_slice_per_feature(artifacts, blessed_model,
                                                                       tmp_path):
    _, _, result = evaluate(artifacts, tmp_path, None, blessed_model)
    assert result.baseline_rmse is not None
    whole = next(s for s in result.slices if s.key == ())
    assert whole.count == len(data.half_star_rows())
    # By the candidate's buckets alone: had TFMA also sliced by the blessed model's, the
    # users it never saw would count in 'unseen in training' as well as in their own.
    for feature in features.TRANSFORMED_SLICES:
        by_feature = [s for s in result.slices if s.key and s.key[0][0] == feature]
        assert by_feature, f'no {feature} slices with a blessed model'
        assert sum(s.count for s in by_feature) == whole.count, feature


@pytest.mark.e2e
def test_batched_slicing_gives_tfmas_per_example_results(artifacts, blessed_model, tmp_path):
    batched = evaluate(artifacts, tmp_path / 'batched', None, blessed_model)[2]
    per_example = evaluate(artifacts, tmp_path / 'per_example', None, blessed_model,
                           per_example=True)[2]
    def by_key(evaluation):
        return sorted(evaluation.slices, key=lambda s: repr(s.key))

    assert len(batched.slices) > 1
    assert [(s.key, s.count) for s in by_key(batched)] == \
        [(s.key, s.count) for s in by_key(per_example)]
    for ours, tfmas in zip(by_key(batched), by_key(per_example)):
        assert (ours.rmse, ours.rmse_diff, ours.bias_baseline_rmse) == pytest.approx(
            (tfmas.rmse, tfmas.rmse_diff, tfmas.bias_baseline_rmse), abs=1e-9)
    assert (batched.rmse, batched.baseline_rmse, batched.bias_baseline_rmse) == pytest.approx(
        (per_example.rmse, per_example.baseline_rmse, per_example.bias_baseline_rmse), abs=1e-9)
