"""The Evaluator's error metrics, computed by TFMA in one NumPy pass per slice.

TFMA has native MeanSquaredError and MeanAbsoluteError but no RMSE; its class name
'RootMeanSquaredError' alone resolves to tf.keras.metrics.RootMeanSquaredError, which TFMA
feeds through eager TensorFlow once per slice and batch. TFMA's own metrics are cheaper but
each reads every example of every slice again: with five slicing specs, extracting the label
and prediction once per metric was a third of the Evaluator's time. This metric keeps
Keras's name, key and value for RMSE and reports the mean absolute error and the example
count from the same pass, under TFMA's keys for them (the count is of examples, as TFMA's
ExampleCount gives unweighted; weighted, TFMA would sum the weights).

The same pass measures the user + item bias baseline (models/ranking/bias_baseline.py) on
the same examples, when the model's predictions carry its rating (the `evaluate`
signature's `bias_baseline_rating`); a model evaluated through `serving_default` (the last
blessed model, as the Evaluator's baseline) has none, and gets no such key.
`BiasBaselineImprovement` derives, from that pass, how much lower the model's RMSE is than
the bias baseline's: the gate's threshold.
"""
import math
from collections.abc import Mapping
from typing import Iterable, List, NamedTuple, Optional

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_util

from models.ranking import signatures

# The key Keras's metric had, which the gate and runs/results.py read.
RMSE_NAME = 'root_mean_squared_error'
# TFMA's MeanAbsoluteError and ExampleCount keys, which this metric reports in their stead.
MAE_NAME = 'mean_absolute_error'
EXAMPLE_COUNT_NAME = 'example_count'
# The bias baseline's RMSE on the same examples, and the baseline's RMSE minus the model's.
BIAS_BASELINE_RMSE_NAME = 'bias_baseline_root_mean_squared_error'
IMPROVEMENT_NAME = 'rmse_improvement_over_bias_baseline'
# The prediction the errors are of, in a model's dict of outputs (ModelSpec.prediction_key).
PREDICTION_KEY = signatures.RATING
BIAS_BASELINE_PREDICTION_KEY = signatures.BIAS_BASELINE_RATING


class RootMeanSquaredError(tfma.metrics.Metric):
    """sqrt(sum(weight * (label - prediction)^2) / sum(weight)) per slice, and alongside it
    sum(weight * |label - prediction|) / sum(weight), the number of examples and, where the
    predictions carry it, the bias baseline's RMSE."""

    def __init__(self, name: str = RMSE_NAME):
        super().__init__(metric_util.merge_per_key_computations(_error_computations), name=name)


class BiasBaselineImprovement(tfma.metrics.Metric):
    """The bias baseline's RMSE minus the model's: positive when the model is better.

    Derived from RootMeanSquaredError's pass, which TFMA runs once however many metrics
    include it (it de-duplicates computations by combiner and keys).
    """

    def __init__(self, name: str = IMPROVEMENT_NAME):
        super().__init__(metric_util.merge_per_key_computations(_improvement_computations),
                         name=name)


class _ErrorKeys(NamedTuple):
    rmse: tfma.metrics.MetricKey
    mae: tfma.metrics.MetricKey
    count: tfma.metrics.MetricKey
    bias_baseline_rmse: tfma.metrics.MetricKey


def _error_computations(name=None, eval_config=None, model_name='', output_name='',
                        sub_key=None, aggregation_type=None, class_weights=None,
                        example_weighted=False, preprocessors=None):
    def key(metric_name, weighted=example_weighted):
        return tfma.metrics.MetricKey(name=metric_name, model_name=model_name,
                                      output_name=output_name, sub_key=sub_key,
                                      example_weighted=weighted)
    keys = _ErrorKeys(rmse=key(name), mae=key(MAE_NAME),
                      count=key(EXAMPLE_COUNT_NAME, weighted=False),
                      bias_baseline_rmse=key(BIAS_BASELINE_RMSE_NAME))
    return [tfma.metrics.MetricComputation(
        keys=list(keys), preprocessors=preprocessors,
        combiner=_ErrorCombiner(keys, eval_config, aggregation_type, class_weights,
                                example_weighted))]


def _improvement_computations(name=None, eval_config=None, model_name='', output_name='',
                              sub_key=None, aggregation_type=None, class_weights=None,
                              example_weighted=False, preprocessors=None):
    errors = _error_computations(RMSE_NAME, eval_config, model_name, output_name, sub_key,
                                 aggregation_type, class_weights, example_weighted,
                                 preprocessors)
    error_keys = errors[0].combiner.keys
    improvement = tfma.metrics.MetricKey(name=name, model_name=model_name,
                                         output_name=output_name, sub_key=sub_key,
                                         example_weighted=example_weighted)

    def result(metrics):
        if error_keys.bias_baseline_rmse not in metrics:
            return {}
        return {improvement: metrics[error_keys.bias_baseline_rmse] - metrics[error_keys.rmse]}

    return errors + [tfma.metrics.DerivedMetricComputation(keys=[improvement], result=result)]


def _has_bias_baseline(element, model_name: str) -> bool:
    prediction = element.prediction
    if model_name and isinstance(prediction, Mapping):
        prediction = prediction.get(model_name)
    return isinstance(prediction, Mapping) and BIAS_BASELINE_PREDICTION_KEY in prediction


def _spec_keys(eval_config, model_name: str):
    """(label_key, prediction_key) of the model's spec, found as TFMA finds them."""
    for spec in (eval_config.model_specs if eval_config else ()):
        spec_name = spec.name if len(eval_config.model_specs) > 1 else ''
        if spec_name == model_name:
            return spec.label_key, spec.prediction_key
    return '', ''


def _ratings(value) -> Optional[np.ndarray]:
    """The values of an example's or a batch's one-rating array, flat; None for anything
    else."""
    if isinstance(value, np.ndarray):
        return value.reshape(-1).astype(np.float64) if value.size else None
    if isinstance(value, (float, int, np.floating, np.integer)):
        return np.array([value], dtype=np.float64)
    return None


def sums_arrays(eval_config) -> bool:
    """Whether TFMA may hand this config's metrics extracts of many examples (a slice of a
    batch, components/evaluator_extractors.py): all of them are this module's, unweighted, of one
    output, so that each reads one label and one rating per example and sums arrays."""
    names = {RootMeanSquaredError.__name__, BiasBaselineImprovement.__name__}
    options = eval_config.options
    return (options.HasField('include_default_metrics')
            and not options.include_default_metrics.value
            and all(not spec.example_weight_key and not spec.example_weight_keys
                    for spec in eval_config.model_specs)
            and all(not spec.output_names and not spec.example_weights.weighted
                    and not spec.HasField('binarize') and not spec.HasField('aggregate')
                    and all(metric.module == __name__ and metric.class_name in names
                            for metric in spec.metrics)
                    for spec in eval_config.metrics_specs))


class _ErrorCombiner(beam.CombineFn):
    """Accumulates [weighted squared error, weighted absolute error, weight, examples,
    the bias baseline's weighted squared error, its weight].

    TFMA calls add_input once per extract and slice: one example, or with
    components/evaluator_extractors.py a slice of a batch. TFMA's general
    metric_util.to_label_prediction_example_weight, which handles multi-class, top-k and
    weighted metrics, took about a millisecond per example on this machine type; an example
    of this model has one label and one rating per model, which add_input reads directly as
    arrays (`_direct`) and hands any other shape to TFMA's general function. Both give the
    same errors; tests/components/test_rmse_metric.py compares them. The general reading
    counts an extract as one example: only TFMA's per-example extracts reach it, since
    batched ones hold one rating per example.
    """

    def __init__(self, keys, eval_config, aggregation_type, class_weights, example_weighted):
        self.keys = keys
        self._eval_config = eval_config
        self._aggregation_type = aggregation_type
        self._class_weights = class_weights
        self._example_weighted = example_weighted
        self._label_key, self._prediction_key = _spec_keys(eval_config,
                                                           keys.rmse.model_name)
        # The direct reading is TFMA's for an unweighted scalar regression metric only.
        self._direct_ok = (keys.rmse.sub_key is None and aggregation_type is None
                           and not class_weights and not example_weighted
                           and not keys.rmse.output_name)

    def create_accumulator(self) -> List[float]:
        return [0.0, 0.0, 0.0, 0, 0.0, 0.0]

    def _pairs(self, element, output_name):
        return metric_util.to_label_prediction_example_weight(
            element, eval_config=self._eval_config, model_name=self.keys.rmse.model_name,
            output_name=output_name, aggregation_type=self._aggregation_type,
            class_weights=self._class_weights, example_weighted=self._example_weighted,
            sub_key=self.keys.rmse.sub_key)

    def _direct(self, element):
        """(labels, ratings, the bias baseline's ratings or None) of an extract of one
        rating per example, one example or a slice of a batch, as
        to_label_prediction_example_weight would find them; None for any other shape."""
        model_name = self.keys.rmse.model_name
        label = element.get('labels')
        if self._label_key and isinstance(label, Mapping) and self._label_key in label:
            label = label[self._label_key]
        if model_name and isinstance(label, Mapping) and model_name in label:
            label = label[model_name]
        predictions = element.get('predictions')
        if model_name:
            if not isinstance(predictions, Mapping) or model_name not in predictions:
                return None
            predictions = predictions[model_name]
        if isinstance(predictions, Mapping):
            rating = predictions.get(self._prediction_key)
            baseline = predictions.get(BIAS_BASELINE_PREDICTION_KEY)
        else:
            rating, baseline = predictions, None
        label, rating = _ratings(label), _ratings(rating)
        if label is None or rating is None or label.size != rating.size:
            return None
        if baseline is not None:
            baseline = _ratings(baseline)
            if baseline is None or baseline.size != label.size:
                return None
        return label, rating, baseline

    def add_input(self, accumulator: List[float], element) -> List[float]:
        direct = self._direct(element) if self._direct_ok else None
        if direct is not None:
            labels, ratings, baselines = direct
            errors = labels - ratings
            accumulator[0] += float(errors @ errors)
            accumulator[1] += float(np.abs(errors).sum())
            accumulator[2] += float(errors.size)
            if baselines is not None:
                baseline_errors = labels - baselines
                accumulator[4] += float(baseline_errors @ baseline_errors)
                accumulator[5] += float(errors.size)
            accumulator[3] += errors.size
            return accumulator
        return self._add_input_generally(accumulator, element)

    def _add_input_generally(self, accumulator: List[float], element) -> List[float]:
        for label, prediction, weight in self._pairs(element, self.keys.rmse.output_name):
            weight = metric_util.safe_to_scalar(weight)
            error = label - prediction
            accumulator[0] += weight * float(np.sum(np.square(error)))
            accumulator[1] += weight * float(np.sum(np.abs(error)))
            accumulator[2] += weight
        if _has_bias_baseline(element, self.keys.rmse.model_name):
            for label, prediction, weight in self._pairs(element, BIAS_BASELINE_PREDICTION_KEY):
                weight = metric_util.safe_to_scalar(weight)
                accumulator[4] += weight * float(np.sum(np.square(label - prediction)))
                accumulator[5] += weight
        accumulator[3] += 1
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[List[float]]) -> List[float]:
        merged = self.create_accumulator()
        for accumulator in accumulators:
            for i, value in enumerate(accumulator):
                merged[i] += value
        return merged

    def extract_output(self, accumulator: List[float]):
        squared_error, absolute_error, weight, examples, baseline_error, baseline_weight = (
            accumulator)
        output = {self.keys.rmse: math.sqrt(squared_error / weight) if weight else float('nan'),
                  self.keys.mae: absolute_error / weight if weight else float('nan'),
                  self.keys.count: float(examples)}
        if baseline_weight:
            output[self.keys.bias_baseline_rmse] = math.sqrt(baseline_error / baseline_weight)
        return output
