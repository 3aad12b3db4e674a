"""The Evaluator's verdict in words: which conditions a model had to meet, which it failed,
and why it was or was not blessed.

run_summary.json's "gate" object and the report's Blessing section both come from here.
"""
import dataclasses
from typing import List, Optional

from runs.results import IMPROVEMENT_KEY, RMSE_KEY, Evaluation, Failure, Threshold

RMSE_THRESHOLD_FLAG = '--rmse-threshold'
BIAS_BASELINE = 'the user + item bias baseline'


@dataclasses.dataclass(frozen=True)
class Gate:
    rmse: Optional[float]
    threshold: Optional[float]  # the bound on the test RMSE (--rmse-threshold); else None
    baseline_rmse: Optional[float]  # the last blessed model's; None when there was none
    min_improvement: Optional[float]  # None when there was no blessed model to beat
    # The user + item bias baseline's test RMSE, fitted on the same train split, and how
    # much lower the model's had to be: None when --rmse-threshold applied instead.
    bias_baseline_rmse: Optional[float]
    bias_baseline_min_improvement: Optional[float]
    reason: str

    def as_dict(self):
        return dataclasses.asdict(self)


def _rmse(value: Optional[float]) -> str:
    return 'unknown' if value is None else f'{value:.4f}'


def _bound(value: Optional[float]) -> str:
    return 'none' if value is None else f'{value:g}'


def conditions(evaluation: Evaluation) -> List[str]:
    """What a model must meet on the whole test split to be blessed, in words."""
    lines = []
    for threshold in evaluation.thresholds:
        name = 'test RMSE' if threshold.metric == RMSE_KEY else threshold.metric
        if threshold.upper_bound is not None:
            flag = f' ({RMSE_THRESHOLD_FLAG})' if threshold.metric == RMSE_KEY else ''
            lines.append(f'{name} at most {threshold.upper_bound:g}{flag}')
        if threshold.metric == IMPROVEMENT_KEY and threshold.lower_bound is not None:
            lines.append(f"test RMSE lower than {BIAS_BASELINE}'s (fitted on the same train "
                         f'split) by at least {threshold.lower_bound:g}')
        elif threshold.lower_bound is not None:
            lines.append(f'{name} at least {threshold.lower_bound:g}')
        if threshold.change is not None:
            better = 'lower' if threshold.lower_is_better else 'higher'
            lines.append(f"{name} {better} than the last blessed model's by at least "
                         f'{abs(threshold.change):g}, when there is one')
    if evaluation.baseline_rmse is None and not any(
            t.change is not None for t in evaluation.thresholds):
        # Without a baseline TFMA clears change thresholds from the config it saves.
        lines.append("better than the last blessed model's, once a model has been blessed "
                     '(not applied to this run: there was none)')
    return lines


def _failed_check(failure: Failure, evaluation: Evaluation) -> str:
    where = f' on slice {failure.slice_description}' if failure.slice_description else ''
    if failure.metric == IMPROVEMENT_KEY and not failure.is_diff:
        return (f'test RMSE {_rmse(evaluation.rmse)}{where} does not beat '
                f"{BIAS_BASELINE}'s {_rmse(evaluation.bias_baseline_rmse)} by at least "
                f'{_bound(failure.threshold.lower_bound)}')
    if failure.metric != RMSE_KEY:
        return f'{failure.metric} is {_rmse(failure.value)}{where}, {_limits(failure.threshold)}'
    if failure.is_diff:
        return (f'test RMSE {_rmse(evaluation.rmse)}{where} does not beat the last blessed '
                f"model's {_rmse(evaluation.baseline_rmse)} by at least "
                f'{_bound(evaluation.min_improvement)}')
    if failure.threshold.upper_bound is not None:
        return (f'test RMSE {_rmse(evaluation.rmse)}{where} is above the bound '
                f'{_bound(failure.threshold.upper_bound)} ({RMSE_THRESHOLD_FLAG})')
    return f'test RMSE {_rmse(evaluation.rmse)}{where} is {_limits(failure.threshold)}'


def _limits(threshold: Threshold) -> str:
    limits = []
    if threshold.upper_bound is not None:
        limits.append(f'at most {threshold.upper_bound:g}')
    if threshold.lower_bound is not None:
        limits.append(f'at least {threshold.lower_bound:g}')
    if threshold.change is not None:
        limits.append(f'a change of at most {threshold.change:g}' if threshold.lower_is_better
                      else f'a change of at least {threshold.change:g}')
    return 'not ' + ' and '.join(limits) if limits else 'outside its threshold'


def failed_checks(evaluation: Evaluation) -> List[str]:
    """Each check the Evaluator failed, in words."""
    checks = [_failed_check(failure, evaluation) for failure in evaluation.failures]
    if evaluation.missing_thresholds:
        checks.append("TFMA computed no value for some threshold's metric")
    checks += [f'the test split has no slice {name}' for name in evaluation.missing_slices]
    return checks


def reason(evaluation: Evaluation) -> str:
    """The verdict in one sentence."""
    if not evaluation.validation_ok:
        return 'not blessed: ' + ('; '.join(failed_checks(evaluation))
                                  or 'the validation failed')
    bar = evaluation.min_improvement_over_bias_baseline
    if bar is not None:
        improvement = (evaluation.bias_baseline_rmse - evaluation.rmse
                       if None not in (evaluation.rmse, evaluation.bias_baseline_rmse)
                       else None)
        text = (f"blessed: test RMSE {_rmse(evaluation.rmse)} beats {BIAS_BASELINE}'s "
                f'{_rmse(evaluation.bias_baseline_rmse)} by {_rmse(improvement)} (at least '
                f'{_bound(bar)} needed)')
    else:
        text = (f'blessed: test RMSE {_rmse(evaluation.rmse)} is within the bound '
                f'{_bound(evaluation.upper_bound)}')
    if evaluation.baseline_rmse is None:
        return text + ', and there was no blessed model to beat'
    improvement = (evaluation.baseline_rmse - evaluation.rmse
                   if evaluation.rmse is not None else None)
    return text + (f" and beats the last blessed model's {_rmse(evaluation.baseline_rmse)} by "
                   f'{_rmse(improvement)} (at least {_bound(evaluation.min_improvement)} '
                   'needed)')


def gate(evaluation: Evaluation) -> Gate:
    return Gate(rmse=evaluation.rmse, threshold=evaluation.upper_bound,
                baseline_rmse=evaluation.baseline_rmse,
                min_improvement=evaluation.min_improvement,
                bias_baseline_rmse=evaluation.bias_baseline_rmse,
                bias_baseline_min_improvement=evaluation.min_improvement_over_bias_baseline,
                reason=reason(evaluation))
