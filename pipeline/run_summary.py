"""run_summary.json: what a run produced, read back from MLMD and the artifacts themselves.

Besides the numbers, it says why the model was or was not blessed (the "gate" object), in
the Evaluator's own terms: the bounds TFMA applied and the checks that failed.
"""
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.movielens import SKIPPED_ROWS_PROPERTY
from models import features
from models.ranking.trainer import HISTORY_FILE
from pipeline import metrics, run_record
from pipeline.run_record import custom_property

SUMMARY_FILE = 'run_summary.json'
# The gated metric, as the eval config names its class and TFMA names its value.
RMSE_CLASS = metrics.RootMeanSquaredError.__name__
RMSE_KEY = metrics.RMSE_NAME


def split_counts(statistics_uri: str) -> Dict[str, int]:
    """Examples per split, from StatisticsGen's output (no need to read the examples)."""
    counts = {}
    for split in features.SPLITS:
        path = os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with tf.io.gfile.GFile(path, 'rb') as f:
            stats.ParseFromString(f.read())
        counts[split] = int(stats.datasets[0].num_examples)
    return counts


def overall_rmse(evaluation_uri: str, model_name: Optional[str] = None) -> Optional[float]:
    """A model's RMSE over the whole test split, from the Evaluator's output: the candidate
    model's unless model_name names the baseline."""
    result = tfma.load_eval_result(evaluation_uri, model_name=model_name or None)
    for slice_key, metrics in result.slicing_metrics:
        if slice_key == ():
            rmse = metrics[''][''].get(RMSE_KEY)
            return float(rmse['doubleValue']) if rmse else None
    return None


def _rmse_bounds(eval_config) -> Tuple[Optional[float], Optional[float]]:
    """(upper bound, minimum improvement) of the overall RMSE, as the Evaluator applied
    them. Without a baseline, TFX drops the change threshold: the bound alone decides."""
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            if metric.class_name != RMSE_CLASS:
                continue
            for per_slice in metric.per_slice_thresholds:
                if not any(spec == tfma.SlicingSpec() for spec in per_slice.slicing_specs):
                    continue
                threshold = per_slice.threshold
                upper_bound = (threshold.value_threshold.upper_bound.value
                               if threshold.value_threshold.HasField('upper_bound') else None)
                # LOWER_IS_BETTER with absolute -x: the RMSE must drop by at least x.
                min_improvement = (-threshold.change_threshold.absolute.value
                                   if threshold.change_threshold.HasField('absolute') else None)
                return upper_bound, min_improvement
    return None, None


def _rmse(value: Optional[float]) -> str:
    return 'unknown' if value is None else f'{value:.4f}'


def _bound(value: Optional[float]) -> str:
    return 'none' if value is None else f'{value:g}'


def _one_line(message) -> str:
    return text_format.MessageToString(message, as_one_line=True)


def _failed_checks(validation, rmse: Optional[float], upper_bound: Optional[float],
                   baseline_rmse: Optional[float], min_improvement: Optional[float]
                   ) -> List[str]:
    """Each check TFMA failed, in words."""
    checks = []
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            threshold = failure.metric_threshold
            if failure.metric_key.name != RMSE_KEY:
                checks.append(f'{failure.metric_key.name} failed {_one_line(threshold)}')
            elif threshold.HasField('value_threshold'):
                checks.append(f'test RMSE {_rmse(rmse)} is above the bound '
                              f'{_bound(upper_bound)} (--rmse-threshold)')
            elif threshold.HasField('change_threshold'):
                checks.append(f'test RMSE {_rmse(rmse)} does not beat the last blessed '
                              f"model's {_rmse(baseline_rmse)} by at least "
                              f'{_bound(min_improvement)}')
            else:
                checks.append(f'test RMSE {_rmse(rmse)} failed {_one_line(threshold)}')
    for missing in validation.missing_slices:
        checks.append(f'the test split has no slice {_one_line(missing)}')
    return checks


def gate_reason(validation, rmse: Optional[float], upper_bound: Optional[float],
                baseline_rmse: Optional[float], min_improvement: Optional[float]) -> str:
    """The Evaluator's verdict in words, from TFMA's ValidationResult and the numbers."""
    if not validation.validation_ok:
        checks = _failed_checks(validation, rmse, upper_bound, baseline_rmse, min_improvement)
        return 'not blessed: ' + ('; '.join(checks) or 'the validation failed')
    reason = f'blessed: test RMSE {_rmse(rmse)} is within the bound {_bound(upper_bound)}'
    if baseline_rmse is None:
        return reason + ', and there was no blessed model to beat'
    improvement = baseline_rmse - rmse if rmse is not None else None
    return reason + (f" and beats the last blessed model's {_rmse(baseline_rmse)} by "
                     f'{_rmse(improvement)} (at least {_bound(min_improvement)} needed)')


def gate(evaluation_uri: str) -> Dict[str, Any]:
    """Why the Evaluator blessed its model or not: the test RMSE, the bounds it was held to
    (min_improvement and baseline_rmse are null when there was no blessed model to beat),
    and the reason in words."""
    config = tfma.load_eval_result(evaluation_uri).config
    candidate = next((spec.name for spec in config.model_specs if not spec.is_baseline), None)
    baseline = next((spec.name for spec in config.model_specs if spec.is_baseline), None)
    upper_bound, min_improvement = _rmse_bounds(config)
    rmse = overall_rmse(evaluation_uri, candidate)
    baseline_rmse = overall_rmse(evaluation_uri, baseline) if baseline else None
    reason = gate_reason(tfma.load_validation_result(evaluation_uri), rmse, upper_bound,
                         baseline_rmse, min_improvement)
    return {'rmse': rmse, 'threshold': upper_bound, 'baseline_rmse': baseline_rmse,
            'min_improvement': min_improvement, 'reason': reason}


def skipped_rows(examples) -> Optional[int]:
    """Bad rating rows the ExampleGen dropped (--skip-bad-rows); None if not recorded."""
    value = examples.custom_properties.get(SKIPPED_ROWS_PROPERTY)
    return int(value.int_value) if value is not None else None


def best_eval_rmse(model_run_uri: str) -> Optional[float]:
    """The Trainer's best RMSE on the eval split, where early stopping chose the weights."""
    path = os.path.join(model_run_uri, HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)['eval_rmse']


def build(record: run_record.RunRecord, pipeline_name: str, source: str, data_path: str,
          wall_seconds: float) -> Dict[str, Any]:
    def output(node_id, key):
        artifacts = record.outputs(node_id).get(key)
        return artifacts[0] if artifacts else None

    examples = output(run_record.EXAMPLE_GEN, 'examples')
    statistics = output(run_record.STATISTICS_GEN, 'statistics')
    evaluation = output(run_record.EVALUATOR, 'evaluation')
    blessing = output(run_record.EVALUATOR, 'blessing')
    model_run = output(run_record.TRAINER, 'model_run')
    pushed = output(run_record.PUSHER, 'pushed_model')
    counts = split_counts(statistics.uri) if statistics else {}
    return {
        'pipeline_name': pipeline_name,
        'data': {'source': source, 'path': data_path,
                 'split_counts': {split: counts.get(split, 0) for split in features.SPLITS},
                 'skipped_rows': skipped_rows(examples) if examples else None},
        'test_rmse': overall_rmse(evaluation.uri) if evaluation else None,
        'eval_rmse': best_eval_rmse(model_run.uri) if model_run else None,
        'blessed': bool(blessing and custom_property(blessing, 'blessed')),
        'gate': gate(evaluation.uri) if evaluation else None,
        'pushed_model_dir': (custom_property(pushed, 'pushed_destination')
                             if pushed and custom_property(pushed, 'pushed') else None),
        'components': {node_id: {'seconds': run_record.seconds(e),
                                 'cached': run_record.is_cached(e)}
                       for node_id, e in record.executions().items()},
        'wall_seconds': round(wall_seconds, 2),
    }


def write(summary: Dict[str, Any], output_dir: str) -> str:
    path = os.path.join(output_dir, SUMMARY_FILE)
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    return path
