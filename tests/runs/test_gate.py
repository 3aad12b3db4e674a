"""The gate's reason in run_summary.json, for each verdict TFMA can reach.

tests/test_local_runner_history.py gets the common verdicts from real runs; these
are the ones that need more runs than a test can afford (a model that beats the served
one; a model that fails both checks), built as runs.results reads them from TFMA.
"""
import pytest

from runs import gate
from runs.results import RMSE_KEY, Evaluation, Failure, Threshold

RMSE, BOUND, BASELINE, MIN_IMPROVEMENT = 1.0879, 1.0, 1.0624, 1e-4
BOUND_THRESHOLD = Threshold(RMSE_KEY, upper_bound=BOUND)
CHANGE_THRESHOLD = Threshold(RMSE_KEY, change=-MIN_IMPROVEMENT)
VALUE_FAILURE = Failure(RMSE_KEY, RMSE, is_diff=False, threshold=BOUND_THRESHOLD,
                        slice_description='', message='')
CHANGE_FAILURE = Failure(RMSE_KEY, RMSE - BASELINE, is_diff=True, threshold=CHANGE_THRESHOLD,
                         slice_description='', message='')
ABOVE_BOUND = 'test RMSE 1.0879 is above the bound 1 (--rmse-threshold)'
NOT_BETTER = "test RMSE 1.0879 does not beat the last blessed model's 1.0624 by at least 0.0001"


def evaluation(*failures, rmse=RMSE, bound=BOUND, baseline=None, missing_slices=()):
    # As TFMA saves it: the change threshold only when there was a baseline.
    threshold = Threshold(RMSE_KEY, upper_bound=bound,
                          change=-MIN_IMPROVEMENT if baseline is not None else None)
    return Evaluation(rmse=rmse, baseline_rmse=baseline, slices=(), slicing_features=(),
                      thresholds=(threshold,), validation_ok=not failures and not missing_slices,
                      failures=failures, missing_slices=missing_slices,
                      missing_thresholds=False)


@pytest.mark.parametrize('failures, baseline, reason', [
    ([VALUE_FAILURE], None, f'not blessed: {ABOVE_BOUND}'),
    ([CHANGE_FAILURE], BASELINE, f'not blessed: {NOT_BETTER}'),
    ([VALUE_FAILURE, CHANGE_FAILURE], BASELINE, f'not blessed: {ABOVE_BOUND}; {NOT_BETTER}'),
], ids=['above the bound', 'not better', 'both'])
def test_a_refused_model_is_told_every_check_it_failed(failures, baseline, reason):
    assert gate.reason(evaluation(*failures, baseline=baseline)) == reason


def test_a_model_that_beats_the_served_one_is_told_by_how_much():
    assert gate.reason(evaluation(rmse=1.05, bound=1.5, baseline=BASELINE)) == (
        "blessed: test RMSE 1.0500 is within the bound 1.5 and beats the last blessed "
        "model's 1.0624 by 0.0124 (at least 0.0001 needed)")


def test_the_first_blessed_model_had_nothing_to_beat():
    assert gate.reason(evaluation(rmse=1.05, bound=1.5)) == (
        'blessed: test RMSE 1.0500 is within the bound 1.5, and there was no blessed model '
        'to beat')


def test_a_failure_without_a_reading_is_still_named():
    reason = gate.reason(evaluation(missing_slices=('user_gender',)))
    assert reason == 'not blessed: the test split has no slice user_gender'


def test_the_gate_object_holds_the_bounds_it_applied():
    verdict = gate.gate(evaluation(CHANGE_FAILURE, baseline=BASELINE))
    assert (verdict.rmse, verdict.threshold, verdict.baseline_rmse,
            verdict.min_improvement) == (RMSE, BOUND, BASELINE, MIN_IMPROVEMENT)


def test_conditions_say_what_a_model_must_meet():
    assert gate.conditions(evaluation(baseline=BASELINE)) == [
        'test RMSE at most 1 (--rmse-threshold)',
        "test RMSE lower than the last blessed model's by at least 0.0001, when there is one"]
    assert gate.conditions(evaluation())[-1].startswith("better than the last blessed model's")
