"""Fills the report context (reporting/context.py) from the latest run of an output dir:
one function per part of the page, and PARTS, the page's parts in order with what each is
drawn from.

Everything is read through reporting/run.py and the project's readers: the gate's words
(runs/gate.py), the TFDV, TFMA and Trainer results (runs/results.py) and the serving layout.
A part whose input the run did not produce raises Missing, whose message the page shows in
its place.
"""
import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Optional, Tuple

import numpy as np

from components import curated_schema, serving_layout
from components.movielens import contract
from models import features
from pipeline import configs
from reporting import predictions as predictions_module
from reporting.context import (Anomalies, Baseline, Blessing, FeatureRow, Features, Footer,
                               Header, LongTail, Missing, PredictionSample, PushedModel,
                               RankPanel, RatingSplit, Ratings, RmseComparison, Signature,
                               SliceRow, Slices, SplitCount, Splits, TimingRow, Timings,
                               Training)
from reporting.run import Run
from runs import gate, record, results
from runs.record import (EVALUATOR, EXAMPLE_GEN, EXAMPLE_VALIDATOR, PUSHER, STATISTICS_GEN,
                         TRAINER)

# The user of the example rank.py call when the statistics name no user at all.
EXAMPLE_USER_ID = '42'


# The header and the footer: the run itself, always collected anew.

def header(run: Run) -> Header:
    summary, failed = run.summary, run.failed
    if failed:
        status, good = f'stopped: {failed[0]} failed', False
    elif run.interrupted:
        status, good = f'interrupted in {run.interrupted[0]}', False
    elif run.failure_message:
        status, good = 'failed', False
    elif PUSHER in run.executions:
        status, good = 'completed', True
    else:
        status, good = 'incomplete', None
    data = summary.get('data') or {}
    pushed = summary.get('pushed_model_dir')
    return Header(
        pipeline_name=summary.get('pipeline_name') or configs.PIPELINE_NAME,
        started=(run.record.name.replace('T', ' ').split('.')[0] if run.record.name
                 else 'unknown'),
        status=status, good=good,
        failure_message=(run.failure_message or '').strip() or None,
        cached=sum(run.cached(node_id) for node_id in run.executions),
        components=len(run.executions),
        test_rmse=summary.get('test_rmse'), eval_rmse=summary.get('eval_rmse'),
        blessed=bool(summary.get('blessed')), verdict_cached=run.cached(EVALUATOR),
        pushed_model_dir=pushed, push_cached=bool(pushed) and run.cached(PUSHER),
        data_source=data.get('source'), data_path=data.get('path'),
        data_format=data.get('format'), data_split=data.get('split'),
        wall_seconds=summary.get('wall_seconds') or 0.0)


def footer(run: Run, reused: Tuple[str, ...]) -> Footer:
    return Footer(time.strftime('%Y-%m-%d %H:%M:%S'), run.output_dir, run.summary_origin,
                  run.record.name, reused)


# Data.

def splits(run: Run) -> Splits:
    counts = (run.summary.get('data') or {}).get('split_counts') or {}
    if not any(counts.values()):
        run.output(STATISTICS_GEN, 'statistics')  # Missing, if that is why
        raise Missing('The run summary, which counts the examples, could not be built.')
    total = sum(counts.values())
    return Splits(tuple(SplitCount(split, count, 100 * count / total)
                        for split, count in counts.items()),
                  total, (run.summary.get('data') or {}).get('skipped_rows'))


def _data_format(run: Run) -> str:
    """The release format the ExampleGen recorded; 100K's for a run from before formats."""
    return (run.summary.get('data') or {}).get('format') or contract.FORMAT_100K


def rating_scale(run: Run) -> contract.RatingScale:
    """The ratings the run's release allows (whole stars from 1, or half stars from 0.5),
    by the format the ExampleGen recorded; whole stars for a run from before formats."""
    return contract.RATING_SCALES[_data_format(run)]


def ratings(run: Run) -> Ratings:
    """Shares per allowed rating from TFDV's equal-width histogram of the rating: a
    release's ratings are whole or half stars, so each bucket's count goes to the rating
    nearest its middle."""
    stars, rows = np.array(rating_scale(run).ratings()), []
    for split in run.statistics():
        rating = run.feature(split, features.LABEL).numeric
        if not rating.histogram:
            raise Missing(f'The statistics of {features.LABEL} have no histogram.')
        counts = np.zeros(len(stars))
        for low, high, count in rating.histogram:
            counts[int(np.argmin(np.abs(stars - (low + high) / 2)))] += count
        rows.append(RatingSplit(split, tuple(float(s) for s in 100 * counts / counts.sum()),
                                rating.mean, rating.std_dev, rating.min, rating.max))
    return Ratings(tuple(float(s) for s in stars), tuple(rows))


def long_tail(run: Run) -> LongTail:
    split, panels = features.TRAIN_SPLIT, []
    for name, noun, most in ((features.USER_ID, 'user', 'active'),
                             (features.MOVIE_TITLE, 'movie', 'rated')):
        ranked = run.feature(split, name).ranked
        if not ranked.counts:
            raise Missing(f'The statistics of {name} have no rank histogram.')
        counts = np.array(ranked.counts)
        top_tenth = max(1, int(math.ceil(0.1 * ranked.unique)))
        top = ranked.top or (None, None)
        panels.append(RankPanel(
            name, noun, most, ranked.counts, ranked.unique, top_tenth,
            float(100 * counts[:top_tenth].sum() / ranked.present),
            float(np.median(counts)) if counts.size == ranked.unique else None, *top))
    return LongTail(split, tuple(panels))


def anomalies(run: Run) -> Anomalies:
    artifact = run.output(EXAMPLE_VALIDATOR, 'anomalies')
    found = results.read_anomalies(artifact)
    if found.unwritten_splits:
        raise Missing(f'ExampleValidator wrote no anomalies file for split(s) '
                      f'{", ".join(found.unwritten_splits)} in {artifact.uri}.')
    return Anomalies(found.splits, found.lines, curated_schema.source_name(_data_format(run)))


def feature_table(run: Run) -> Features:
    split = features.TRAIN_SPLIT
    statistics = run.split_statistics(split)
    rows = []
    for name, feature in sorted(statistics.features.items()):
        if feature.numeric:
            values = (f'mean {feature.numeric.mean:.4g}, min {feature.numeric.min:g}, '
                      f'max {feature.numeric.max:g}')
        else:
            values = f'{feature.ranked.unique:,} distinct values'
        rows.append(FeatureRow(name, feature.type,
                               100 * feature.present / max(statistics.num_examples, 1), values))
    return Features(split, tuple(rows))


# Training.

_SETTINGS = ('architecture', 'epochs', 'batch_size', 'optimizer', 'learning_rate',
             'ensemble_size')


def _biased_mf_members(hyperparameters: dict) -> int:
    """A member per biased_mf_penalties entry; a run of older code counted them itself."""
    return (len(hyperparameters.get('biased_mf_penalties') or ())
            or hyperparameters.get('biased_mf_members') or 0)


def training_settings(hyperparameters: dict, history: results.TrainingHistory) -> str:
    """The settings the report names, with the batch the Trainer used: larger_batches
    chooses it by the train split's size."""
    if history.batch_size:
        hyperparameters = dict(hyperparameters, batch_size=history.batch_size)
    return ', '.join(f'{key} {value}' for key, value in hyperparameters.items()
                     if key in _SETTINGS)


def training(run: Run) -> Training:
    model_run = run.output(TRAINER, 'model_run')
    history = results.read_training_history(model_run)
    if history is None:
        raise Missing(f'The Trainer wrote no training history in {model_run.uri}.')
    hyperparameters = record.custom_config(run.executions[TRAINER]).get('hyperparameters', {})
    patience = hyperparameters.get('early_stopping_patience')
    epochs = {name: tuple(values) for name, values in history.epochs.items()}
    epochs_run = len(epochs['rmse'])
    val_rmse = epochs.get('val_rmse')
    best = best_rmse = None
    if val_rmse:
        best = int(np.argmin(val_rmse)) + 1
        best_rmse = val_rmse[best - 1]
        first, last = history.averaged_epochs or (best, best)
        if first < last:
            kept = f'the mean of the weights after epochs {first} to {last}, around the best'
        elif patience:
            kept = f'epoch {best}: early stopping (patience {patience}) restored its weights'
        else:
            kept = f'epoch {epochs_run}: early stopping is off, the last weights are kept'
    else:
        kept = f'epoch {epochs_run}: the Trainer recorded no eval RMSE per epoch'
    refit = history.refit or {}
    return Training(epochs, best, best_rmse, kept, history.eval_rmse,
                    (hyperparameters.get('ensemble_size') or 1)
                    + _biased_mf_members(hyperparameters),
                    training_settings(hyperparameters, history), model_run.uri,
                    refit.get('epochs'), refit.get('examples'), history.epoch_seconds,
                    history.phase_seconds, history.blend)


def training_inputs(run: Run):
    return (run.identity(TRAINER, 'model_run'),
            record.custom_config(run.executions[TRAINER]).get('hyperparameters'))


# Evaluation.

def _global_mean(run: Run) -> Tuple[float, float]:
    """(train mean rating, RMSE on test of always predicting it), from the statistics.

    With the test split's mean m and (population) standard deviation s, predicting a
    constant c scores RMSE = sqrt(s^2 + (m - c)^2).
    """
    train = run.feature(features.TRAIN_SPLIT, features.LABEL).numeric
    test = run.feature(features.TEST_SPLIT, features.LABEL).numeric
    return train.mean, math.sqrt(test.std_dev ** 2 + (test.mean - train.mean) ** 2)


def _property(artifact, name: str):
    return artifact.get_custom_property(name) if artifact.has_custom_property(name) else None


def _baseline(run: Run, evaluation: results.Evaluation) -> Optional[Baseline]:
    try:
        blessing = run.output(EVALUATOR, 'blessing')
    except Missing:
        return None
    uri = _property(blessing, 'baseline_model')
    if evaluation.baseline_rmse is None or not uri:
        return None
    return Baseline(evaluation.baseline_rmse, uri, _property(blessing, 'baseline_model_id')
                    == _property(blessing, 'current_model_id'))


def rmse_comparison(run: Run) -> RmseComparison:
    test_rmse = run.summary.get('test_rmse')
    if test_rmse is None:
        raise Missing(run.absence(EVALUATOR, 'evaluation'))
    evaluation = run.evaluation()
    train_mean = mean_rmse = missing = None
    try:
        train_mean, mean_rmse = _global_mean(run)
    except Missing as reason:
        missing = str(reason)
    return RmseComparison(test_rmse, run.summary.get('eval_rmse'), _baseline(run, evaluation),
                          train_mean, mean_rmse, missing, evaluation.upper_bound,
                          evaluation.bias_baseline_rmse)


def rmse_inputs(run: Run):
    return (run.summary.get('test_rmse'), run.summary.get('eval_rmse'),
            run.identity(EVALUATOR, 'evaluation'),
            run.identity(EVALUATOR, 'blessing', required=False),
            run.identity(STATISTICS_GEN, 'statistics', required=False))


def _slice_part(feature: str, value) -> str:
    if feature == features.BUCKETIZED_USER_AGE:
        buckets = features.AGE_BUCKETS
        if int(value) not in buckets:
            return f'age {value}'
        index = buckets.index(int(value))
        if index == 0:
            return f'age under {buckets[1]}'
        if index == len(buckets) - 1:
            return f'age {value}+'
        return f'age {value}-{buckets[index + 1] - 1}'
    if feature == features.USER_GENDER:
        return f'gender {value}'
    return f'{feature} {value}'


def slices(run: Run) -> Slices:
    evaluation = run.evaluation()
    keys = evaluation.slicing_features

    def order(row: results.SliceMetrics):
        # By feature in the eval_config's order, then by value (ages numerically).
        return tuple((keys.index(f) if f in keys else len(keys),
                      (0, v, '') if isinstance(v, (int, float)) else (1, 0, str(v)))
                     for f, v in row.key)

    rows = [SliceRow(', '.join(_slice_part(f, v) for f, v in s.key),
                     order(s)[0][0], s.rmse, s.count,
                     None if s.rmse_diff is None else s.rmse - s.rmse_diff)
            for s in sorted((s for s in evaluation.slices if s.key), key=order)]
    if not rows:
        raise Missing('TFMA reported no per-slice RMSE.')
    return Slices(tuple(rows), evaluation.rmse, keys)


def predictions(run: Run) -> PredictionSample:
    model = run.output(TRAINER, 'model')
    examples = run.output(EXAMPLE_GEN, 'examples')
    files = results.split_files(examples, features.TEST_SPLIT)
    if not files:
        raise Missing(f'The ExampleGen wrote no test examples in {examples.uri}.')
    counts = (run.summary.get('data') or {}).get('split_counts') or {}
    return predictions_module.sample(model.uri, files, counts.get(features.TEST_SPLIT, 0),
                                     rating_scale(run))


def predictions_inputs(run: Run):
    return (run.identity(TRAINER, 'model'), run.identity(EXAMPLE_GEN, 'examples'),
            predictions_module.SAMPLE_LIMIT)


def blessing(run: Run) -> Blessing:
    blessed = run.output(EVALUATOR, 'blessing')
    evaluation = run.evaluation()
    return Blessing(bool(blessed.get_int_custom_property('blessed')), gate.reason(evaluation),
                    tuple(gate.conditions(evaluation)), tuple(gate.failed_checks(evaluation)),
                    run.output(EVALUATOR, 'evaluation').uri)


# The pushed model.

def _example_user(run: Run) -> str:
    """The most active user of the train split: one the model surely knows."""
    try:
        top = run.feature(features.TRAIN_SPLIT, features.USER_ID).ranked.top
    except Missing:
        return EXAMPLE_USER_ID
    return top[0] if top else EXAMPLE_USER_ID


def _still_served(run: Run) -> str:
    """Which earlier version the serving dir still serves, in words."""
    destination = json.loads(record.custom_property(run.executions[PUSHER], 'push_destination')
                             or '{}')
    serving_dir = destination.get('filesystem', {}).get('base_directory')
    newest = serving_layout.newest_version_dir(serving_dir) if serving_dir else None
    if newest is None:
        return f'No model has been pushed to {serving_dir or "this output dir"} yet.'
    return (f'{serving_dir} still serves version {os.path.basename(newest)}, pushed by an '
            'earlier run.')


def _why_not_pushed(run: Run) -> str:
    try:
        pushed = run.output(PUSHER, 'pushed_model')
        blessed = run.output(EVALUATOR, 'blessing')
    except Missing as missing:
        return f'Nothing was pushed. {missing}'
    if pushed.get_int_custom_property('pushed'):
        return (f'The Pusher pushed to {pushed.get_string_custom_property("pushed_destination")}, '
                'but the run summary names no pushed dir.')
    if not blessed.get_int_custom_property('blessed'):
        return ('Nothing was pushed: the Evaluator did not bless the model (see Evaluation, '
                f'Blessing). {_still_served(run)}')
    return 'Nothing was pushed, although the model was blessed: see the Pusher\'s logs.'


def _specs(tensors: Tuple[results.TensorSpec, ...]) -> Tuple[str, ...]:
    return tuple(f'{t.key}: {t.dtype}, any shape' if t.shape is None
                 else f'{t.key}: {t.dtype}[{", ".join(map(str, t.shape))}]' for t in tensors)


def pushed_model(run: Run) -> PushedModel:
    pushed_dir = run.summary.get('pushed_model_dir')
    if not pushed_dir:
        raise Missing(_why_not_pushed(run))
    if not os.path.exists(os.path.join(pushed_dir, serving_layout.SAVED_MODEL_FILE)):
        raise Missing(f'{pushed_dir} holds no {serving_layout.SAVED_MODEL_FILE}: the pushed '
                      'model has been moved or deleted since the run.')
    serving_dir = os.path.dirname(pushed_dir.rstrip('/'))
    return PushedModel(pushed_dir, os.path.basename(pushed_dir.rstrip('/')),
                       tuple(Signature(s.name, _specs(s.inputs), _specs(s.outputs))
                             for s in results.read_signatures(pushed_dir)),
                       f'python rank.py --model-dir {serving_dir} --user-id '
                       f'{_example_user(run)} --top-k 10')


# Timings.

def timings(run: Run) -> Timings:
    components = run.summary.get('components') or {}
    if not components:
        raise Missing('No component has run yet.')
    rows = []
    for node_id, timing in components.items():
        execution = run.executions.get(node_id)
        state = (record.state(execution) if execution
                 else record.CACHED if timing['cached'] else record.DONE)
        # To 0.1 s: then a rerun from the cache, whose components take next to nothing,
        # mostly has the same chart as the one before, and reuses it.
        rows.append(TimingRow(node_id, state, round(timing['seconds'], 1),
                              cached=state == record.CACHED, failed=state == record.FAILED))
    failed = run.failed
    return Timings(tuple(rows), failed[0] if failed else None)


# The parts of the page, in its order.

@dataclasses.dataclass(frozen=True)
class Part:
    name: str  # its field in ReportContext, and the stem of its figure's file
    title: str  # how problems and the footer name it
    collect: Callable[[Run], Any]
    # What a part that may be reused is drawn from; None for parts always collected anew:
    # those that are cheap, or describe the run itself.
    inputs: Optional[Callable[[Run], Any]] = None


def _statistics_inputs(run: Run):
    return run.identity(STATISTICS_GEN, 'statistics')


PARTS = (
    Part('splits', 'Data: Splits', splits),
    Part('ratings', 'Data: Ratings', ratings, _statistics_inputs),
    Part('long_tail', 'Data: Long tail', long_tail, _statistics_inputs),
    Part('anomalies', 'Data: Anomalies', anomalies),
    Part('features', 'Data: Features', feature_table),
    Part('training', 'Training', training, training_inputs),
    Part('rmse', 'Evaluation: Test RMSE and baselines', rmse_comparison, rmse_inputs),
    Part('slices', 'Evaluation: RMSE per slice', slices,
         lambda run: run.identity(EVALUATOR, 'evaluation')),
    Part('predictions', 'Evaluation: Predicted vs actual rating', predictions,
         predictions_inputs),
    Part('blessing', 'Evaluation: Blessing', blessing),
    Part('pushed_model', 'Pushed model', pushed_model),
    Part('timings', 'Timings', timings, timings),
)

