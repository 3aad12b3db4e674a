"""What a run's artifacts hold, read into plain values: statistics, anomalies, the training
history, the evaluation and the signatures of a SavedModel.

The one reader of TFDV's, TFMA's and the Trainer's output files: the run summary and the
report take their numbers from here, so that they can never disagree.
"""
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import artifact_utils

from components import anomaly_gate
from components import rmse_metric
from components import serving_layout
from components.movielens import contract
from models import artifacts as model_artifacts

# The metric the gate reads, and TFMA's name for its difference to the baseline's.
RMSE_KEY = rmse_metric.RMSE_NAME
RMSE_DIFF_KEY = f'{RMSE_KEY}_diff'
EXAMPLE_COUNT_KEY = rmse_metric.EXAMPLE_COUNT_NAME
# The user + item bias baseline's RMSE on the same examples, and how much lower the model's is.
BIAS_BASELINE_RMSE_KEY = rmse_metric.BIAS_BASELINE_RMSE_NAME
IMPROVEMENT_KEY = rmse_metric.IMPROVEMENT_NAME
# The key each of our metric classes is thresholded by.
_KEY_OF_METRIC = {rmse_metric.RootMeanSquaredError.__name__: RMSE_KEY,
                  rmse_metric.BiasBaselineImprovement.__name__: IMPROVEMENT_KEY}


# Statistics (StatisticsGen).

@dataclasses.dataclass(frozen=True)
class NumericSummary:
    mean: float
    std_dev: float
    min: float
    max: float
    # TFDV's equal-width histogram: (low, high, count) per bucket.
    histogram: Tuple[Tuple[float, float, float], ...]


@dataclasses.dataclass(frozen=True)
class RankedValues:
    """A string feature's values by frequency, as far as TFDV's rank histogram goes."""
    counts: Tuple[float, ...]  # of the most frequent value, the next, ...
    unique: int
    present: int  # examples with a value
    top: Optional[Tuple[str, float]]  # the most frequent value and its count


@dataclasses.dataclass(frozen=True)
class FeatureStatistics:
    name: str
    type: str  # 'int', 'float', 'string', ...
    present: int  # examples with a value
    numeric: Optional[NumericSummary] = None
    ranked: Optional[RankedValues] = None


@dataclasses.dataclass(frozen=True)
class SplitStatistics:
    num_examples: int
    features: Dict[str, FeatureStatistics]


def _feature_statistics(feature: statistics_pb2.FeatureNameStatistics) -> FeatureStatistics:
    name = feature.path.step[0]
    type_name = statistics_pb2.FeatureNameStatistics.Type.Name(feature.type).lower()
    if feature.WhichOneof('stats') == 'num_stats':
        stats = feature.num_stats
        standard = [h for h in stats.histograms if h.type == statistics_pb2.Histogram.STANDARD]
        histogram = tuple((b.low_value, b.high_value, b.sample_count)
                          for b in (standard[0].buckets if standard else ()))
        return FeatureStatistics(name, type_name, stats.common_stats.num_non_missing,
                                 numeric=NumericSummary(stats.mean, stats.std_dev, stats.min,
                                                        stats.max, histogram))
    stats = feature.string_stats
    top = (stats.top_values[0].value, stats.top_values[0].frequency) if stats.top_values else None
    return FeatureStatistics(name, type_name, stats.common_stats.num_non_missing,
                             ranked=RankedValues(
                                 tuple(b.sample_count for b in stats.rank_histogram.buckets),
                                 stats.unique, stats.common_stats.num_non_missing, top))


def read_statistics(statistics: types.Artifact) -> Dict[str, SplitStatistics]:
    """StatisticsGen's statistics of each split, by split name."""
    result = {}
    for split in artifact_utils.decode_split_names(statistics.split_names):
        dataset = stats_artifact_utils.load_statistics(statistics, split).proto().datasets[0]
        result[split] = SplitStatistics(
            dataset.num_examples,
            {f.name: f for f in map(_feature_statistics, dataset.features)})
    return result


# Anomalies (ExampleValidator).

@dataclasses.dataclass(frozen=True)
class Anomalies:
    splits: Tuple[str, ...]
    lines: Tuple[str, ...]  # one per anomaly, in words
    unwritten_splits: Tuple[str, ...]  # splits ExampleValidator wrote no anomalies file for


def read_anomalies(anomalies: types.Artifact) -> Anomalies:
    splits = tuple(artifact_utils.decode_split_names(anomalies.split_names))
    unwritten = tuple(split for split in splits if not tf.io.gfile.exists(os.path.join(
        artifact_utils.get_split_uri([anomalies], split), anomaly_gate.ANOMALIES_FILE)))
    written = [split for split in splits if split not in unwritten]
    return Anomalies(splits, tuple(anomaly_gate.describe_anomalies(anomalies, written)),
                     unwritten)


# The ExampleGen's examples.

def skipped_rows(examples: types.Artifact) -> Optional[int]:
    """Bad rating rows the ExampleGen dropped (--skip-bad-rows); None if not recorded."""
    if not examples.has_custom_property(contract.SKIPPED_ROWS_PROPERTY):
        return None
    return examples.get_int_custom_property(contract.SKIPPED_ROWS_PROPERTY)


def data_format(examples: types.Artifact) -> Optional[str]:
    """The release format the ExampleGen detected (contract.FORMATS); None if not recorded."""
    if not examples.has_custom_property(contract.FORMAT_PROPERTY):
        return None
    return examples.get_string_custom_property(contract.FORMAT_PROPERTY)


def split_kind(examples: types.Artifact) -> Optional[str]:
    """How the splits were made (contract.SPLIT_KINDS); None if not recorded."""
    if not examples.has_custom_property(contract.SPLIT_PROPERTY):
        return None
    return examples.get_string_custom_property(contract.SPLIT_PROPERTY)


def split_files(examples: types.Artifact, split: str) -> List[str]:
    """The TFRecord files of one split of an Examples artifact."""
    return tf.io.gfile.glob(os.path.join(artifact_utils.get_split_uri([examples], split), '*'))


# Training history (Trainer).

@dataclasses.dataclass(frozen=True)
class TrainingHistory:
    epochs: Dict[str, List[float]]  # Keras's history: loss, rmse, val_loss, val_rmse, ...
    # of the weights the Trainer kept (and their blend, cross-fitted), measured after training
    eval_rmse: Optional[float]
    # With a refit on train + eval: its 'epochs' (as many as the weights kept used) and
    # 'examples'.
    refit: Optional[Dict[str, Any]] = None
    # Each epoch's seconds of the early-stopped fit; the first holds the step's tracing.
    epoch_seconds: Tuple[float, ...] = ()
    # (first, last): the epochs whose mean weights were kept, if averaged.
    averaged_epochs: Optional[Tuple[int, int]] = None
    # The seconds of each of the Trainer's phases (read, tables, fit, ...), in order.
    phase_seconds: Dict[str, float] = dataclasses.field(default_factory=dict)
    # Examples per step, as the train split's size chose it (None from older Trainers).
    batch_size: Optional[int] = None
    # If the members are blended as fitted on eval: 'kind_weights' (kind -> weight of its
    # members' mean rating), 'offset', and 'unblended_eval_rmse', their plain mean's.
    blend: Optional[Dict[str, Any]] = None


def read_training_history(model_run: types.Artifact) -> Optional[TrainingHistory]:
    """The Trainer's history, or None if it wrote none."""
    path = os.path.join(model_run.uri, model_artifacts.HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        history = json.load(f)
    averaged = history.get('averaged_epochs')
    return TrainingHistory(history['epochs'], history.get('eval_rmse'), history.get('refit'),
                           tuple(history.get('epoch_seconds', ())),
                           tuple(averaged) if averaged else None,
                           history.get('phase_seconds', {}), history.get('batch_size'),
                           history.get('blend'))


# Evaluation (Evaluator).

@dataclasses.dataclass(frozen=True)
class SliceMetrics:
    key: Tuple[Tuple[str, object], ...]  # ((feature, value), ...); () is the whole split
    rmse: float
    count: float
    rmse_diff: Optional[float]  # the candidate's minus the baseline's, with a baseline
    bias_baseline_rmse: Optional[float] = None  # the user + item bias baseline's


@dataclasses.dataclass(frozen=True)
class Threshold:
    """One of the thresholds of the eval_config that apply to the whole test split."""
    metric: str
    upper_bound: Optional[float] = None
    lower_bound: Optional[float] = None
    # A change against the baseline: at most (lower is better) or at least this difference.
    change: Optional[float] = None
    lower_is_better: bool = True
    relative_change: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Failure:
    """A check the Evaluator failed."""
    metric: str
    value: Optional[float]
    is_diff: bool  # a change threshold against the baseline, rather than a bound
    threshold: Threshold
    slice_description: str  # '' for the whole test split
    message: str


@dataclasses.dataclass(frozen=True)
class Evaluation:
    rmse: Optional[float]  # the candidate's, on the whole test split
    baseline_rmse: Optional[float]  # the baseline model's, when the Evaluator had one
    slices: Tuple[SliceMetrics, ...]  # every slice, the whole split first
    slicing_features: Tuple[str, ...]  # in the eval_config's order
    thresholds: Tuple[Threshold, ...]
    validation_ok: bool
    failures: Tuple[Failure, ...]
    missing_slices: Tuple[str, ...]
    missing_thresholds: bool
    # The user + item bias baseline's, fitted on the same train split; None for a model
    # exported without it.
    bias_baseline_rmse: Optional[float] = None

    def threshold_of(self, metric: str) -> Optional[Threshold]:
        return next((t for t in self.thresholds if t.metric == metric), None)

    @property
    def upper_bound(self) -> Optional[float]:
        """The RMSE bound the Evaluator applied."""
        threshold = self.threshold_of(RMSE_KEY)
        return threshold.upper_bound if threshold else None

    @property
    def min_improvement(self) -> Optional[float]:
        """How much lower than the baseline's the RMSE had to be; None without a baseline,
        since TFMA then drops change thresholds from the config it saves."""
        threshold = self.threshold_of(RMSE_KEY)
        if threshold is None or threshold.change is None:
            return None
        return -threshold.change

    @property
    def min_improvement_over_bias_baseline(self) -> Optional[float]:
        """How much lower than the bias baseline's the RMSE had to be; None when the bias
        baseline was reported but not gated on (--rmse-threshold)."""
        threshold = self.threshold_of(IMPROVEMENT_KEY)
        return threshold.lower_bound if threshold else None


def _threshold(metric: str, threshold) -> Threshold:
    value, change = threshold.value_threshold, threshold.change_threshold
    return Threshold(
        metric=metric,
        upper_bound=(value.upper_bound.value if value.HasField('upper_bound') else None),
        lower_bound=(value.lower_bound.value if value.HasField('lower_bound') else None),
        change=(change.absolute.value if change.HasField('absolute') else None),
        lower_is_better=change.direction != tfma.MetricDirection.HIGHER_IS_BETTER,
        relative_change=(change.relative.value if change.HasField('relative') else None))


def _overall_thresholds(eval_config) -> Tuple[Threshold, ...]:
    """The thresholds on the whole test split, named by the metric's key."""
    thresholds = []
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            name = _KEY_OF_METRIC.get(metric.class_name, metric.class_name)
            if metric.HasField('threshold'):
                thresholds.append(_threshold(name, metric.threshold))
            for per_slice in metric.per_slice_thresholds:
                if any(not spec.feature_keys and not spec.feature_values
                       for spec in per_slice.slicing_specs):
                    thresholds.append(_threshold(name, per_slice.threshold))
    return tuple(thresholds)


def _metric_values(metrics) -> Dict[str, float]:
    return {key: value['doubleValue'] for key, value in metrics[''][''].items()
            if isinstance(value, dict) and 'doubleValue' in value}


def _slice_description(slice_key) -> str:
    return ', '.join(f'{single.column} {single.bytes_value.decode() or single.int64_value}'
                     for single in slice_key.single_slice_keys)


def read_evaluation(evaluation: types.Artifact) -> Evaluation:
    """TFMA's metrics and verdict on the test split."""
    result = tfma.load_eval_result(evaluation.uri)
    config = result.config
    baseline = next((spec.name for spec in config.model_specs if spec.is_baseline), None)
    candidate = next((spec.name for spec in config.model_specs if not spec.is_baseline), None)
    if candidate:
        result = tfma.load_eval_result(evaluation.uri, model_name=candidate)
    slices = []
    for slice_key, metrics in result.slicing_metrics:
        values = _metric_values(metrics)
        if RMSE_KEY in values:
            slices.append(SliceMetrics(tuple(slice_key), values[RMSE_KEY],
                                       values.get(EXAMPLE_COUNT_KEY, 0.0),
                                       values.get(RMSE_DIFF_KEY),
                                       values.get(BIAS_BASELINE_RMSE_KEY)))
    slices.sort(key=lambda s: s.key != ())
    overall = next((s for s in slices if s.key == ()), None)
    baseline_rmse = None
    if baseline and overall is not None and overall.rmse_diff is not None:
        baseline_rmse = overall.rmse - overall.rmse_diff
    thresholds = _overall_thresholds(config)
    validation = tfma.load_validation_result(evaluation.uri)
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            name = failure.metric_key.name
            failures.append(Failure(
                metric=name,
                value=(failure.metric_value.double_value.value
                       if failure.metric_value.HasField('double_value') else None),
                is_diff=failure.metric_key.is_diff,
                threshold=_threshold(name, failure.metric_threshold),
                slice_description=_slice_description(per_slice.slice_key),
                message=failure.message.strip()))
    return Evaluation(
        rmse=overall.rmse if overall else None,
        baseline_rmse=baseline_rmse,
        slices=tuple(slices),
        slicing_features=tuple(key for spec in config.slicing_specs
                               for key in spec.feature_keys),
        thresholds=thresholds,
        validation_ok=validation.validation_ok,
        failures=tuple(failures),
        missing_slices=tuple(', '.join(spec.feature_keys) or 'the whole split'
                             for spec in validation.missing_slices),
        missing_thresholds=bool(validation.missing_thresholds),
        bias_baseline_rmse=overall.bias_baseline_rmse if overall else None)


# Signatures (a SavedModel the Trainer wrote, as pushed).

@dataclasses.dataclass(frozen=True)
class TensorSpec:
    key: str
    dtype: str  # 'string', 'float32', ...
    shape: Optional[Tuple[int, ...]]  # -1 for a dimension of any size; None for any rank


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    inputs: Tuple[TensorSpec, ...]  # by key
    outputs: Tuple[TensorSpec, ...]


def _tensor_specs(tensors) -> Tuple[TensorSpec, ...]:
    return tuple(TensorSpec(key, tf.dtypes.as_dtype(info.dtype).name,
                            None if info.tensor_shape.unknown_rank
                            else tuple(d.size for d in info.tensor_shape.dim))
                 for key, info in sorted(tensors.items()))


def read_signatures(saved_model_dir: str) -> Tuple[Signature, ...]:
    """The callable signatures of a SavedModel, by name, as TF Serving reads them.

    From saved_model.pb alone: the specs tf.saved_model.load would give, without loading the
    model.
    """
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(saved_model_dir, serving_layout.SAVED_MODEL_FILE),
                           'rb') as f:
        saved_model.ParseFromString(f.read())
    return tuple(Signature(name, _tensor_specs(signature.inputs),
                           _tensor_specs(signature.outputs))
                 for name, signature in sorted(saved_model.meta_graphs[0].signature_def.items())
                 # TensorFlow's own init op, not something to call.
                 if not name.startswith('__'))
