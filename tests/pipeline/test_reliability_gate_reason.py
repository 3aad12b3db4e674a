"""The gate's reason in run_summary.json, for each verdict TFMA can reach.

tests/pipeline/test_reliability_history.py gets the common verdicts from real runs; these
are the ones that need more runs than a test can afford (a model that beats the served
one; a model that fails both checks), built from TFMA's own ValidationResult protos.
"""
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import validation_result_pb2

from pipeline import run_summary

RMSE, BOUND, BASELINE, MIN_IMPROVEMENT = 1.0879, 1.0, 1.0624, 1e-4


def failure(threshold: tfma.MetricThreshold, is_diff: bool):
    return validation_result_pb2.ValidationFailure(
        metric_key=tfma.metrics.MetricKey(name=run_summary.RMSE_KEY, model_name='candidate',
                                          is_diff=is_diff).to_proto(),
        metric_threshold=threshold)


VALUE_FAILURE = failure(tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
    upper_bound={'value': BOUND})), is_diff=False)
CHANGE_FAILURE = failure(tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
    direction=tfma.MetricDirection.LOWER_IS_BETTER, absolute={'value': -MIN_IMPROVEMENT})),
    is_diff=True)
ABOVE_BOUND = 'test RMSE 1.0879 is above the bound 1 (--rmse-threshold)'
NOT_BETTER = "test RMSE 1.0879 does not beat the last blessed model's 1.0624 by at least 0.0001"


def validation(*failures):
    result = validation_result_pb2.ValidationResult(validation_ok=not failures)
    if failures:
        result.metric_validations_per_slice.add(failures=failures)
    return result


@pytest.mark.parametrize('failures, baseline, reason', [
    ([VALUE_FAILURE], None, f'not blessed: {ABOVE_BOUND}'),
    ([CHANGE_FAILURE], BASELINE, f'not blessed: {NOT_BETTER}'),
    ([VALUE_FAILURE, CHANGE_FAILURE], BASELINE, f'not blessed: {ABOVE_BOUND}; {NOT_BETTER}'),
], ids=['above the bound', 'not better', 'both'])
def test_a_refused_model_is_told_every_check_it_failed(failures, baseline, reason):
    assert run_summary.gate_reason(validation(*failures), RMSE, BOUND, baseline,
                                   MIN_IMPROVEMENT) == reason


def test_a_model_that_beats_the_served_one_is_told_by_how_much():
    assert run_summary.gate_reason(validation(), 1.05, 1.5, BASELINE, MIN_IMPROVEMENT) == (
        "blessed: test RMSE 1.0500 is within the bound 1.5 and beats the last blessed "
        "model's 1.0624 by 0.0124 (at least 0.0001 needed)")


def test_the_first_blessed_model_had_nothing_to_beat():
    assert run_summary.gate_reason(validation(), 1.05, 1.5, None, None) == (
        'blessed: test RMSE 1.0500 is within the bound 1.5, and there was no blessed model '
        'to beat')


def test_a_failure_without_a_reading_is_still_named():
    missing = validation_result_pb2.ValidationResult(validation_ok=False)
    missing.missing_slices.add(feature_keys=['user_gender'])
    reason = run_summary.gate_reason(missing, RMSE, BOUND, None, None)
    assert reason == 'not blessed: the test split has no slice feature_keys: "user_gender"'
