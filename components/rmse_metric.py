"""The Evaluator's error metrics, computed by TFMA in one NumPy pass per slice.

TFMA has native MeanSquaredError and MeanAbsoluteError but no RMSE; its class name
'RootMeanSquaredError' alone resolves to tf.keras.metrics.RootMeanSquaredError, which TFMA
feeds through eager TensorFlow once per slice and batch. TFMA's own metrics are cheaper but
each reads every example of every slice again: with five slicing specs, extracting the label
and prediction once per metric was a third of the Evaluator's time. This metric keeps
Keras's name, key and value for RMSE and reports the mean absolute error and the example
count from the same pass, under TFMA's keys for them (the count is of examples, as TFMA's
ExampleCount gives unweighted; weighted, TFMA would sum the weights).
"""
import math
from typing import Iterable, List, NamedTuple

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_util

# The key Keras's metric had, which the gate and runs/results.py read.
RMSE_NAME = 'root_mean_squared_error'
# TFMA's MeanAbsoluteError and ExampleCount keys, which this metric reports in their stead.
MAE_NAME = 'mean_absolute_error'
EXAMPLE_COUNT_NAME = 'example_count'


class RootMeanSquaredError(tfma.metrics.Metric):
    """sqrt(sum(weight * (label - prediction)^2) / sum(weight)) per slice, and alongside it
    sum(weight * |label - prediction|) / sum(weight) and the number of examples."""

    def __init__(self, name: str = RMSE_NAME):
        super().__init__(metric_util.merge_per_key_computations(_error_computations), name=name)


def _error_computations(name=None, eval_config=None, model_name='', output_name='',
                        sub_key=None, aggregation_type=None, class_weights=None,
                        example_weighted=False, preprocessors=None):
    def key(metric_name, weighted=example_weighted):
        return tfma.metrics.MetricKey(name=metric_name, model_name=model_name,
                                      output_name=output_name, sub_key=sub_key,
                                      example_weighted=weighted)
    keys = _ErrorKeys(rmse=key(name), mae=key(MAE_NAME),
                      count=key(EXAMPLE_COUNT_NAME, weighted=False))
    return [tfma.metrics.MetricComputation(
        keys=list(keys), preprocessors=preprocessors,
        combiner=_ErrorCombiner(keys, eval_config, aggregation_type, class_weights,
                                example_weighted))]


class _ErrorKeys(NamedTuple):
    rmse: tfma.metrics.MetricKey
    mae: tfma.metrics.MetricKey
    count: tfma.metrics.MetricKey


class _ErrorCombiner(beam.CombineFn):
    """Accumulates [weighted squared error, weighted absolute error, weight, examples]."""

    def __init__(self, keys, eval_config, aggregation_type, class_weights, example_weighted):
        self._keys = keys
        self._eval_config = eval_config
        self._aggregation_type = aggregation_type
        self._class_weights = class_weights
        self._example_weighted = example_weighted

    def create_accumulator(self) -> List[float]:
        return [0.0, 0.0, 0.0, 0]

    def add_input(self, accumulator: List[float], element) -> List[float]:
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._keys.rmse.model_name,
                output_name=self._keys.rmse.output_name,
                aggregation_type=self._aggregation_type, class_weights=self._class_weights,
                example_weighted=self._example_weighted, sub_key=self._keys.rmse.sub_key):
            weight = metric_util.safe_to_scalar(weight)
            error = label - prediction
            accumulator[0] += weight * float(np.sum(np.square(error)))
            accumulator[1] += weight * float(np.sum(np.abs(error)))
            accumulator[2] += weight
        accumulator[3] += 1
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[List[float]]) -> List[float]:
        merged = self.create_accumulator()
        for accumulator in accumulators:
            for i, value in enumerate(accumulator):
                merged[i] += value
        return merged

    def extract_output(self, accumulator: List[float]):
        squared_error, absolute_error, weight, examples = accumulator
        return {self._keys.rmse: math.sqrt(squared_error / weight) if weight else float('nan'),
                self._keys.mae: absolute_error / weight if weight else float('nan'),
                self._keys.count: float(examples)}
