"""The gate's words when the user + item bias baseline is the bar (no --rmse-threshold), built
as runs.results reads them from TFMA."""
import pytest

from runs import gate
from runs.results import IMPROVEMENT_KEY, RMSE_KEY, Evaluation, Failure, Threshold

RMSE, BIAS_BASELINE, SERVED, MIN_IMPROVEMENT = 0.9012, 0.9405, 0.9030, 1e-4
BAR = Threshold(IMPROVEMENT_KEY, lower_bound=MIN_IMPROVEMENT)


def evaluation(*failures, rmse=RMSE, served=None):
    # As TFMA saves it: no bound on the RMSE, its change threshold only with a served model.
    thresholds = (Threshold(RMSE_KEY, change=-MIN_IMPROVEMENT if served else None), BAR)
    return Evaluation(rmse=rmse, baseline_rmse=served, slices=(), slicing_features=(),
                      thresholds=thresholds, validation_ok=not failures, failures=failures,
                      missing_slices=(), missing_thresholds=False,
                      bias_baseline_rmse=BIAS_BASELINE)


def test_a_model_that_loses_to_the_bias_baseline_is_told_its_rmse():
    worse = 0.9650
    failure = Failure(IMPROVEMENT_KEY, BIAS_BASELINE - worse, is_diff=False, threshold=BAR,
                      slice_description='', message='')
    assert gate.reason(evaluation(failure, rmse=worse)) == (
        "not blessed: test RMSE 0.9650 does not beat the user + item bias baseline's 0.9405 "
        'by at least 0.0001')


def test_a_blessed_model_is_told_by_how_much_it_beats_both_bars():
    assert gate.reason(evaluation(served=SERVED)) == (
        "blessed: test RMSE 0.9012 beats the user + item bias baseline's 0.9405 by 0.0393 "
        "(at least 0.0001 needed) and beats the last blessed model's 0.9030 by 0.0018 "
        '(at least 0.0001 needed)')
    assert gate.reason(evaluation()) == (
        "blessed: test RMSE 0.9012 beats the user + item bias baseline's 0.9405 by 0.0393 "
        '(at least 0.0001 needed), and there was no blessed model to beat')


def test_the_gate_object_names_the_bar():
    verdict = gate.gate(evaluation(served=SERVED)).as_dict()
    assert {key: verdict[key] for key in (
        'rmse', 'threshold', 'bias_baseline_rmse', 'bias_baseline_min_improvement')} == {
        'rmse': RMSE, 'threshold': None, 'bias_baseline_rmse': BIAS_BASELINE,
        'bias_baseline_min_improvement': MIN_IMPROVEMENT}
    assert verdict['min_improvement'] == pytest.approx(MIN_IMPROVEMENT)


def test_conditions_name_the_bias_baseline():
    assert gate.conditions(evaluation(served=SERVED)) == [
        "test RMSE lower than the last blessed model's by at least 0.0001, when there is one",
        "test RMSE lower than the user + item bias baseline's (fitted on the same train split) "
        'by at least 0.0001']
