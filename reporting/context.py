"""What the run report shows: one plain dataclass per part of the page, and the report
context that holds them all.

collect.py and predictions.py fill them from a run; figures.py draws from them, render.py
writes the page from them, and cache.py keeps them for the next report. A part that could
not be filled is a Missing (its input was not produced, and the message says why) or a
Failed (any other error, shown on the page).
"""
import dataclasses
import statistics
import traceback
from typing import Any, Dict, Optional, Tuple, Union


class Missing(Exception):
    """A part of the report whose input this run did not produce; the message says why."""




@dataclasses.dataclass(frozen=True)
class Failed:
    """A part that could not be built for another reason: the page shows the error."""
    error: str  # 'TypeName: message'
    traceback: str

    @classmethod
    def of(cls, error: Exception) -> 'Failed':
        return cls(f'{type(error).__name__}: {error}', traceback.format_exc(limit=-3))


@dataclasses.dataclass(frozen=True)
class Header:
    pipeline_name: str
    started: str  # 'YYYY-MM-DD HH:MM:SS', from the run's name
    # 'completed', 'incomplete', 'failed', 'stopped: <component> failed' or
    # 'interrupted in <component>'
    status: str
    good: Optional[bool]  # the status's colour: None for neither
    failure_message: Optional[str]
    cached: int  # components taken from the cache
    components: int
    test_rmse: Optional[float]
    eval_rmse: Optional[float]
    blessed: bool
    verdict_cached: bool  # the Evaluator's verdict is an earlier run's
    pushed_model_dir: Optional[str]
    push_cached: bool
    data_source: Optional[str]
    data_path: Optional[str]
    data_format: Optional[str]  # the release's format the ExampleGen detected: 100k, 10m, csv...
    data_split: Optional[str]  # how the splits were made: hash, time or predefined
    wall_seconds: float


@dataclasses.dataclass(frozen=True)
class Footer:
    written: str
    output_dir: str
    summary_origin: str
    run_name: Optional[str]
    reused: Tuple[str, ...]  # titles of the parts taken from the previous report


@dataclasses.dataclass(frozen=True)
class SplitCount:
    split: str
    examples: int
    share: float  # percent of all examples


@dataclasses.dataclass(frozen=True)
class Splits:
    rows: Tuple[SplitCount, ...]
    total: int
    skipped_rows: Optional[int]  # bad rows the ExampleGen dropped (--skip-bad-rows)


@dataclasses.dataclass(frozen=True)
class RatingSplit:
    split: str
    shares: Tuple[float, ...]  # percent of the split's ratings per star
    mean: float
    std_dev: float
    min: float
    max: float


@dataclasses.dataclass(frozen=True)
class Ratings:
    stars: Tuple[float, ...]  # every rating the release allows
    splits: Tuple[RatingSplit, ...]


@dataclasses.dataclass(frozen=True)
class RankPanel:
    """How a string feature's ratings spread over its values, most frequent first."""
    feature: str
    noun: str  # 'user', 'movie'
    most: str  # 'active', 'rated'
    counts: Tuple[float, ...]  # TFDV's rank histogram: the 1,000 most frequent values
    unique: int
    top_tenth: int  # how many values make the 10 % most frequent
    top_share: float  # percent of the ratings they hold
    median: Optional[float]  # None when the histogram stops before the rarest value
    top_value: Optional[str]
    top_count: Optional[float]

    @property
    def complete(self) -> bool:
        return self.median is not None


@dataclasses.dataclass(frozen=True)
class LongTail:
    split: str
    panels: Tuple[RankPanel, ...]


@dataclasses.dataclass(frozen=True)
class Anomalies:
    splits: Tuple[str, ...]
    lines: Tuple[str, ...]  # one per anomaly, in TFDV's words; none for clean data
    schema: str = ''  # the curated schema they were checked against, as a source path


@dataclasses.dataclass(frozen=True)
class FeatureRow:
    name: str
    type: str
    present: float  # percent of the split's examples
    values: str  # the range of a number, or how many distinct strings


@dataclasses.dataclass(frozen=True)
class Features:
    split: str
    rows: Tuple[FeatureRow, ...]


@dataclasses.dataclass(frozen=True)
class Training:
    epochs: Dict[str, Tuple[float, ...]]  # Keras's history: loss, rmse, val_loss, val_rmse
    best_epoch: Optional[int]  # of the best eval RMSE, counted from 1
    best_eval_rmse: Optional[float]
    kept: str  # which weights the Trainer kept, in words
    # of the weights kept (and their blend, cross-fitted), measured again after training
    eval_rmse: Optional[float]
    members: int
    settings: str
    logdir: str
    refit_epochs: Optional[int] = None  # the served model's refit on train + eval, if any
    refit_examples: Optional[int] = None
    epoch_seconds: Tuple[float, ...] = ()  # the first holds the train step's tracing
    # The seconds of each of the Trainer's phases (read, tables, fit, ...), in order.
    phase_seconds: Dict[str, float] = dataclasses.field(default_factory=dict)
    blend: Optional[Dict[str, Any]] = None  # as the Trainer's history has it, if blended

    @property
    def epochs_run(self) -> int:
        return len(self.epochs['rmse'])

    @property
    def seconds_per_epoch(self) -> Optional[float]:
        """What an epoch costs: the median of the epochs after the first."""
        later = self.epoch_seconds[1:]
        return statistics.median(later) if later else None


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The last blessed model, as the Evaluator scored it on the same test split."""
    rmse: float
    uri: str
    same_model: bool  # the baseline is this run's own model (a cached Trainer, Kubeflow)


@dataclasses.dataclass(frozen=True)
class RmseComparison:
    test_rmse: float
    eval_rmse: Optional[float]
    baseline: Optional[Baseline]
    train_mean: Optional[float]  # the global-mean baseline's constant prediction
    global_mean_rmse: Optional[float]  # the RMSE on test of always predicting train_mean
    global_mean_missing: Optional[str]  # why there is no global-mean baseline
    upper_bound: Optional[float]  # the blessing's bound on the test RMSE
    # The user + item bias baseline fitted on the train split, scored by the Evaluator.
    bias_baseline_rmse: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class SliceRow:
    label: str  # 'age 18-24', 'gender F', ...
    group: int  # the index of its feature among the slicing features
    rmse: float
    examples: float
    baseline_rmse: Optional[float]  # the last blessed model's on the same slice


@dataclasses.dataclass(frozen=True)
class Slices:
    rows: Tuple[SliceRow, ...]  # in the eval_config's order of features, then by value
    overall: Optional[float]  # the whole test split's RMSE
    features: Tuple[str, ...]  # the slicing features


@dataclasses.dataclass(frozen=True)
class StarPredictions:
    """The predictions for the examples of one true rating, as a box plot draws them."""
    star: float
    examples: int
    mean: Optional[float]  # None, like the quartiles, when no example has this rating
    q1: Optional[float]
    median: Optional[float]
    q3: Optional[float]
    whisker_low: Optional[float]  # the lowest prediction within 1.5 IQR of the box
    whisker_high: Optional[float]


@dataclasses.dataclass(frozen=True)
class PredictionSample:
    """The trained model's predictions on (a hashed sample of) the test split."""
    examples: int
    every: int  # one example in `every` was scored; 1 for all of them
    rmse: float
    stars: Tuple[StarPredictions, ...]
    predicted_shares: Tuple[float, ...]  # percent of predictions per star, once rounded
    actual_shares: Tuple[float, ...]  # percent of true ratings per star


@dataclasses.dataclass(frozen=True)
class Blessing:
    blessed: bool
    reason: str  # the gate's verdict in one sentence
    conditions: Tuple[str, ...]  # what a model must meet to be blessed
    failed_checks: Tuple[str, ...]
    evaluation_uri: str


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    inputs: Tuple[str, ...]  # 'key: dtype[shape]', by key; -1 is a dimension of any size
    outputs: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PushedModel:
    path: str
    version: str
    signatures: Tuple[Signature, ...]
    rank_command: str


@dataclasses.dataclass(frozen=True)
class TimingRow:
    component: str
    state: str  # runs/record.py's word: done, cached, FAILED, ...
    seconds: float  # to 0.1 s, as shown
    cached: bool
    failed: bool


@dataclasses.dataclass(frozen=True)
class Timings:
    rows: Tuple[TimingRow, ...]  # in start order
    stopped_by: Optional[str]  # the component whose failure stopped the run


@dataclasses.dataclass(frozen=True)
class Image:
    """A figure's PNG, next to the page."""
    file: str
    width: int  # pixels
    height: int


@dataclasses.dataclass(frozen=True)
class ReportContext:
    """Everything the page shows. Each part is its data, a Missing or a Failed."""
    header: Header
    splits: Union[Splits, Missing, Failed]
    ratings: Union[Ratings, Missing, Failed]
    long_tail: Union[LongTail, Missing, Failed]
    anomalies: Union[Anomalies, Missing, Failed]
    features: Union[Features, Missing, Failed]
    training: Union[Training, Missing, Failed]
    rmse: Union[RmseComparison, Missing, Failed]
    slices: Union[Slices, Missing, Failed]
    predictions: Union[PredictionSample, Missing, Failed]
    blessing: Union[Blessing, Missing, Failed]
    pushed_model: Union[PushedModel, Missing, Failed]
    timings: Union[Timings, Missing, Failed]
    footer: Footer
    images: Dict[str, Image]  # by part name, for the parts that have a figure
    problems: Tuple[str, ...]  # parts that failed for a reason other than a missing input
