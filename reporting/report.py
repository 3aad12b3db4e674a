"""The run report: one static HTML page, with PNG figures, of what a pipeline run did.

TFX's own visualisations need a notebook; this page needs only a browser, offline: no
JavaScript, no CDN, nothing fetched. `write_report(output_dir)` writes
`<output-dir>/report/index.html` from what the latest run left behind: run_summary.json,
its MLMD record (pipeline/run_record.py) and the artifacts themselves (statistics,
anomalies, training history, TFMA's evaluation, the trained and the pushed model).

A run that stopped part-way still gets a page. Each part of it whose input the run did
not produce says why instead; a part that could not be built for any other reason shows
the error on the page and in `Report.problems`, so that it is never silently missing.

A run served from the cache has the same artifacts as the run before it. The parts drawn
from artifacts (figures, the predicted-vs-actual sample) are then taken from the previous
report rather than computed again: each part is stored in report/parts.json with a key made
of the artifacts it read (MLMD id and creation time) and of the code that draws it, and is
reused only when its key and its figures' bytes are unchanged. The timings' key is the
seconds they show; the header and the footer describe the run itself and are always written
anew, and the footer names the parts that were reused.
"""
import dataclasses
import hashlib
import html
import json
import math
import os
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.utils import path_utils

from components import rmse_metric as metrics
from components.anomaly_gate import ANOMALIES_FILE, describe_anomalies
from components.movielens.contract import SKIPPED_ROWS_PROPERTY
from models import features
from models.artifacts import HISTORY_FILE
from models.ranking import signatures
from pipeline import configs, source_fingerprint
from runs import record as run_record
from runs import summary as run_summary
from runs.record import (EVALUATOR, EXAMPLE_GEN, EXAMPLE_VALIDATOR, PUSHER, STATISTICS_GEN,
                         TRAINER, NoRunError, latest_run)

REPORT_DIR = 'report'
INDEX_FILE = 'index.html'
# The parts of the last report and the keys they were built from; see the module docstring.
PARTS_FILE = 'parts.json'
METADATA_FILE = 'metadata.sqlite'
SERVING_SIGNATURES_FILE = 'saved_model.pb'

# The predicted-vs-actual figure runs the model over at most this many test examples:
# enough for stable box plots, and about a second even on a large test split.
PREDICTION_SAMPLE_LIMIT = 20_000
_PREDICTION_BATCH = 4096
# The user of the example rank.py call when the statistics name no user at all.
_EXAMPLE_USER_ID = '42'

# Figures are drawn for a page about 1180 px wide (readable on a 1280 px screen).
_DPI = 100
_FULL_WIDTH = 11.4  # inches at _DPI
_COLOURS = {'train': '#4c72b0', 'eval': '#dd8452', 'test': '#55a868',
            'model': '#4c72b0', 'baseline': '#8c8c8c', 'bad': '#c44e52', 'cached': '#b8c4d6'}

_RMSE = metrics.RMSE_NAME
_RMSE_DIFF = f'{metrics.RMSE_NAME}_diff'
_EXAMPLE_COUNT = metrics.EXAMPLE_COUNT_NAME
_STATES = {run_record.Execution.COMPLETE: 'done', run_record.Execution.CACHED: 'cached',
           run_record.Execution.FAILED: 'FAILED', run_record.Execution.CANCELED: 'canceled',
           run_record.Execution.RUNNING: 'running', run_record.Execution.NEW: 'running'}


def custom_property(artifact_or_execution, name):
    """A custom property of a TFX artifact or an MLMD execution, or None."""
    if hasattr(artifact_or_execution, 'get_custom_property'):
        if not artifact_or_execution.has_custom_property(name):
            return None
        return artifact_or_execution.get_custom_property(name)
    return run_record.custom_property(artifact_or_execution, name)


class Missing(Exception):
    """A part of the report whose input this run did not produce; the message says why."""


@dataclasses.dataclass
class Report:
    path: str  # the index.html written
    problems: List[str]  # parts that failed for a reason other than a missing input
    seconds: float
    reused: List[str] = dataclasses.field(default_factory=list)  # parts of the last report


def write_report(output_dir: str, failure_message: Optional[str] = None) -> str:
    """Writes <output_dir>/report/index.html and its figures; returns the page's path.

    `failure_message` is the error a failed run ended with, which MLMD does not keep; the
    runner passes it so that the page can say why the run stopped.
    """
    return build_report(output_dir, failure_message).path


def build_report(output_dir: str, failure_message: Optional[str] = None,
                 reuse: bool = True, run_summary: Optional[Dict[str, Any]] = None) -> Report:
    """write_report, returning also the parts that could not be built and those reused.

    With `reuse` off, every part is built again even if its artifacts are unchanged.
    """
    started = time.monotonic()
    run = RunView.open(output_dir, failure_message)
    report_dir = os.path.join(run.output_dir, REPORT_DIR)
    os.makedirs(report_dir, exist_ok=True)
    parts = _PartStore(report_dir, reuse)
    page = _Page(run, _Figures(report_dir), parts)
    page.build()
    path = os.path.join(report_dir, INDEX_FILE)
    content = page.html()
    # Written whole and then renamed, so that a browser never shows a half-written page.
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        f.write(content)
    os.replace(path + '.tmp', path)
    parts.save()
    # Figures of an earlier report of this dir that the new page does not show (a part
    # that is now missing) would otherwise linger next to it.
    for name in os.listdir(report_dir):
        if name.endswith('.png') and f'src="{name}"' not in content:
            os.remove(os.path.join(report_dir, name))
    return Report(path=path, problems=page.problems,
                  seconds=round(time.monotonic() - started, 2), reused=page.reused)


def _source_digest() -> str:
    """The code that draws the report: this module, the pipeline modules it reads with and the
    model's (signatures, features). A report drawn by other code is never reused."""
    return (source_fingerprint.source_fingerprint(os.path.dirname(os.path.abspath(__file__)),
                                                  recursive=False)
            + source_fingerprint.trainer_source())


def _file_digest(path: str) -> Optional[str]:
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None


class _PartStore:
    """The parts of the previous report (report/parts.json) and of the one being built.

    A part is stored with its key, its HTML and the digest of each figure it wrote; it is
    reused only when the key is the same and every figure file still has that digest, so
    that a figure overwritten or deleted since is never shown under a stale caption.
    """

    def __init__(self, report_dir: str, reuse: bool):
        self.report_dir = report_dir
        self._path = os.path.join(report_dir, PARTS_FILE)
        self._source = _source_digest()
        self._previous = self._load() if reuse else {}
        self._current = {}

    def _load(self) -> Dict[str, Any]:
        try:
            with open(self._path, encoding='utf-8') as f:
                stored = json.load(f)
        except (FileNotFoundError, ValueError):
            return {}  # no report yet, or one cut short: every part is built
        if not isinstance(stored, dict) or stored.get('source') != self._source:
            return {}
        return stored.get('parts') or {}

    def key(self, inputs) -> str:
        return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()
                              ).hexdigest()

    def reusable(self, name: str, key: str) -> Optional[str]:
        """The stored HTML of part `name` if it was built from `key` and its figures are
        intact; None otherwise."""
        stored = self._previous.get(name)
        if not stored or stored.get('key') != key:
            return None
        for file_name, digest in stored['figures'].items():
            if _file_digest(os.path.join(self.report_dir, file_name)) != digest:
                return None
        self._current[name] = stored
        return stored['html']

    def store(self, name: str, key: str, body: str, figure_files: Sequence[str]):
        self._current[name] = {
            'key': key, 'html': body,
            'figures': {file_name: _file_digest(os.path.join(self.report_dir, file_name))
                        for file_name in figure_files}}

    def save(self):
        with open(self._path + '.tmp', 'w', encoding='utf-8') as f:
            json.dump({'source': self._source, 'parts': self._current}, f)
        os.replace(self._path + '.tmp', self._path)


# --------------------------------------------------------------------------------------------
# What the run left behind.

class RunView:
    """The latest pipeline run of an output dir: its executions, outputs and summary."""

    def __init__(self, output_dir: str, store, run_name: Optional[str],
                 since_execution_id: int, failure_message: Optional[str]):
        self.output_dir = output_dir
        self.run_name = run_name
        self.failure_message = failure_message
        self.record = run_record.RunRecord(store, since_execution_id)
        self.executions = self.record.executions()
        self._outputs = {}  # node id -> its outputs; read once
        self._statistics = None
        self.problems: List[str] = []  # filled by _summary when even that fails
        self.summary, self.summary_origin = self._summary()

    @classmethod
    def open(cls, output_dir: str, failure_message: Optional[str] = None) -> 'RunView':
        output_dir = os.path.abspath(output_dir)
        metadata_path = os.path.join(output_dir, METADATA_FILE)
        if not os.path.exists(metadata_path):
            raise NoRunError(
                f'{metadata_path} does not exist: {output_dir} holds no pipeline run. Run '
                f'local_runner.py --output-dir {output_dir} first, or pass the --output-dir '
                'of an earlier run.')
        store = run_record.connect(metadata_path)
        run_name, since = latest_run(store)
        return cls(output_dir, store, run_name, since, failure_message)

    def output(self, node_id: str, key: str):
        """The artifact a component of this run wrote under `key`; Missing says why not."""
        if node_id not in self._outputs:
            self._outputs[node_id] = self.record.outputs(node_id)
        artifacts = self._outputs[node_id].get(key)
        if not artifacts:
            raise Missing(self.absence(node_id, key))
        return artifacts[0]

    def failed_components(self) -> List[str]:
        return [node_id for node_id, execution in self.executions.items()
                if execution.last_known_state == run_record.Execution.FAILED]

    def absence(self, node_id: str, key: str) -> str:
        """Why component `node_id` has no output `key` in this run, in words."""
        execution = self.executions.get(node_id)
        failed = self.failed_components()
        if execution is None:
            if failed:
                return (f'{node_id} did not run: the run stopped when {failed[0]} failed'
                        f'{self._failure_detail()}.')
            return (f'{node_id} has not run in this run (the run may still be going, or was '
                    'interrupted).')
        state = _STATES.get(execution.last_known_state, 'unknown')
        if state == 'FAILED':
            return f'{node_id} failed in this run{self._failure_detail()}.'
        if state == 'running':
            return f'{node_id} had not finished when this report was written.'
        return f'{node_id} ran ({state}) but recorded no {key!r} output.'

    def _failure_detail(self) -> str:
        if not self.failure_message:
            return ''
        return f' ({_first_line(self.failure_message)})'

    def statistics(self) -> Dict[str, statistics_pb2.DatasetFeatureStatistics]:
        """StatisticsGen's statistics of each split, by split name."""
        if self._statistics is None:
            artifact = self.output(STATISTICS_GEN, 'statistics')
            self._statistics = {}
            for split in _split_names(artifact):
                path = os.path.join(artifact.uri, f'Split-{split}', 'FeatureStats.pb')
                statistics = statistics_pb2.DatasetFeatureStatisticsList()
                with tf.io.gfile.GFile(path, 'rb') as f:
                    statistics.ParseFromString(f.read())
                self._statistics[split] = statistics.datasets[0]
        return self._statistics

    def _summary(self) -> Tuple[Dict[str, Any], str]:
        """run_summary.json if it describes this run, else the same fields rebuilt from MLMD.

        local_runner.py writes the summary only when a run completes, so after a failed run
        the file left in the dir belongs to an earlier run. The file is this run's when its
        components and their timings are exactly those MLMD holds for this run's executions
        (the runner computed them from the same records); a comparison of contents rather
        than of file and MLMD clocks, which are milliseconds apart.
        """
        path = os.path.join(self.output_dir, 'run_summary.json')
        components = _component_timings(self.executions)
        unreadable = ''
        if self.executions and os.path.exists(path):
            try:
                with open(path) as f:
                    summary = json.load(f)
            except ValueError as error:
                summary, unreadable = {}, f'; {path} is not JSON: {error}'
            if summary.get('components') == components:
                return summary, 'run_summary.json'
        last_update_ms = max((e.last_update_time_since_epoch
                              for e in self.executions.values()), default=0)
        source, data_path = None, None
        example_gen = self.executions.get(EXAMPLE_GEN)
        if example_gen is not None:
            config = _custom_config(example_gen)
            source, data_path = config.get('source'), config.get('data_path')
        first_create_ms = min((e.create_time_since_epoch for e in self.executions.values()),
                              default=0)
        wall_seconds = (last_update_ms - first_create_ms) / 1000.0
        origin = ('MLMD (run_summary.json is from an earlier run)' if os.path.exists(path)
                  else 'MLMD (the run wrote no run_summary.json)') + unreadable
        try:
            return run_summary.build(self.record, configs.PIPELINE_NAME, source, data_path,
                                     wall_seconds), origin
        except Exception as error:  # noqa: BLE001 -- shown on the page and in problems
            # A half-written artifact of a broken run must not cost the whole page; the
            # parts that need a missing number say so themselves.
            self.problems.append(f'run summary: {type(error).__name__}: {error}')
            return {'pipeline_name': configs.PIPELINE_NAME,
                    'data': {'source': source, 'path': data_path, 'split_counts': {}},
                    'test_rmse': None, 'eval_rmse': None, 'blessed': False,
                    'pushed_model_dir': None,
                    'components': components,
                    'wall_seconds': round(wall_seconds, 2)}, f'{origin}, incomplete'


def _component_timings(executions) -> Dict[str, Dict[str, Any]]:
    """The 'components' field of run_summary.json, for these executions."""
    return {node_id: {'seconds': run_record.seconds(e), 'cached': run_record.is_cached(e)}
            for node_id, e in executions.items()}


def _custom_config(execution) -> Dict[str, Any]:
    """An execution's custom_config exec property, which TFX stores as JSON."""
    config = json.loads(custom_property(execution, 'custom_config') or 'null') or {}
    # ExampleGen wraps it in a google.protobuf.Struct.
    if 'custom_config' in config:
        config = config['custom_config'].get('value', {})
    return config


def _split_names(artifact) -> List[str]:
    return json.loads(artifact.split_names)


def _feature(statistics, name):
    for feature in statistics.features:
        if feature.path.step and feature.path.step[0] == name:
            return feature
    raise Missing(f'The statistics have no feature {name!r}.')


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


# --------------------------------------------------------------------------------------------
# HTML and figures.

class _Html(str):
    """Text that is already HTML, inserted as is."""


def _escape(value) -> str:
    return value if isinstance(value, _Html) else html.escape(str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence], numeric_columns=(),
           table_id: Optional[str] = None) -> _Html:
    """A table; cells are escaped unless they are _Html. Numeric columns align right."""
    head = ''.join(f'<th>{_escape(h)}</th>' for h in headers)
    head = f'<thead><tr>{head}</tr></thead>' if any(headers) else ''
    body = []
    for row in rows:
        cells = ''.join(
            f'<td class="num">{_escape(cell)}</td>' if index in numeric_columns
            else f'<td>{_escape(cell)}</td>' for index, cell in enumerate(row))
        body.append(f'<tr>{cells}</tr>')
    identity = f' id="{table_id}"' if table_id else ''
    return _Html(f'<table{identity}>{head}<tbody>{"".join(body)}</tbody></table>')


def _value(value, element_id: str) -> _Html:
    """A value that tests and readers look up by id."""
    return _Html(f'<span id="{element_id}">{_escape(value)}</span>')


def _code(text: str) -> _Html:
    return _Html(f'<code>{html.escape(text)}</code>')


def _rmse_text(value: Optional[float]) -> str:
    return 'n/a' if value is None else f'{value:.4f}'


class _Figures:
    """Saves matplotlib figures as PNGs next to the page and returns their HTML."""

    def __init__(self, directory: str):
        self.directory = directory
        self.saved: List[str] = []  # file names, in the order written

    def new(self, height: float, columns: int = 1, width: float = _FULL_WIDTH) -> Tuple[Any, Any]:
        # Imported here: a report whose figures are all reused never needs matplotlib.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        # A bare Figure with an Agg canvas, rather than pyplot: no global backend switch in
        # a process (local_runner.py) that may have chosen its own.
        figure = Figure(figsize=(width, height), dpi=_DPI, layout='constrained')
        FigureCanvasAgg(figure)
        axes = figure.subplots(1, columns, squeeze=False)[0]
        for ax in axes:
            ax.grid(True, color='#e5e5e5', linewidth=0.8)
            ax.set_axisbelow(True)
            for side in ('top', 'right'):
                ax.spines[side].set_visible(False)
        return figure, (axes if columns > 1 else axes[0])

    def save(self, figure, name: str, alt: str, caption: str) -> _Html:
        """`caption` is HTML; escape what it quotes."""
        file_name = f'{name}.png'
        figure.savefig(os.path.join(self.directory, file_name), dpi=_DPI)
        self.saved.append(file_name)
        width, height = (int(round(v)) for v in figure.get_size_inches() * _DPI)
        return _Html(f'<figure><img src="{file_name}" width="{width}" height="{height}" '
                     f'alt="{html.escape(alt)}"><figcaption>{caption}</figcaption></figure>')


# --------------------------------------------------------------------------------------------
# The page.

_CSS = """
body { margin: 0; background: #eef1f4; color: #1f2328;
       font: 15px/1.5 "DejaVu Sans", "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 40px 40px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #d0d7de; }
h3 { font-size: 16px; margin: 22px 0 6px; }
nav { margin: 6px 0 14px; } nav a { margin-right: 16px; }
a { color: #0a58ca; }
table { border-collapse: collapse; margin: 6px 0 14px; }
th, td { border: 1px solid #d0d7de; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 10px 0 22px; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #57606a; font-size: 13.5px; margin-top: 4px; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
code { background: #f3f4f6; padding: 0 3px; border-radius: 3px; word-break: break-all; }
pre { background: #f6f8fa; padding: 10px 14px; overflow-x: auto; border: 1px solid #d0d7de; }
.status { font-size: 16px; margin: 4px 0 10px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; }
.good { background: #dafbe1; color: #116329; }
.bad { background: #ffebe9; color: #a40e26; }
.neutral { background: #eaeef2; color: #424a53; }
.missing { background: #fff8c5; border-left: 4px solid #d4a72c; padding: 6px 12px; }
.section-error { background: #ffebe9; border-left: 4px solid #cf222e; padding: 6px 12px; }
.section-error pre { background: #fff; }
.note { color: #57606a; font-size: 13.5px; }
ul.anomalies li { margin-bottom: 4px; }
.side-by-side { display: flex; gap: 28px; align-items: flex-start; }
/* As wide as the figure's image; the caption wraps under it. */
.side-by-side figure { flex: 0 0 auto; width: min-content; margin-top: 0; }
.side-by-side figure img { max-width: none; }
footer { margin-top: 40px; color: #57606a; font-size: 13px; }
"""


class _Page:
    """Builds the page part by part; each part either renders, says why it is missing, or
    shows the error that stopped it."""

    def __init__(self, run: RunView, figures: _Figures, parts: _PartStore):
        self.run = run
        self.figures = figures
        self.parts = parts
        self.sections: List[Tuple[str, str, List[str]]] = []  # (anchor, title, parts)
        self.problems: List[str] = list(run.problems)
        self.reused: List[str] = []  # '<section>: <part>' taken from the previous report

    def build(self):
        # Each part with a key (the inputs it is drawn from) may be reused; those without
        # one are cheap, or describe the run itself, and are always built.
        statistics = lambda: self._artifact(STATISTICS_GEN, 'statistics')  # noqa: E731
        self._section('data', 'Data', [
            ('Splits', self._splits, None),
            ('Ratings', self._rating_histogram, statistics),
            ('Long tail', self._long_tail, statistics),
            ('Anomalies', self._anomalies, None),
            ('Features', self._feature_table, None),
        ])
        self._section('training', 'Training', [('', self._training, self._training_inputs)])
        self._section('evaluation', 'Evaluation', [
            ('Test RMSE and baselines', self._rmse_comparison, self._rmse_comparison_inputs),
            ('RMSE per slice', self._slices, lambda: self._artifact(EVALUATOR, 'evaluation')),
            ('Predicted vs actual rating', self._predictions,
             lambda: (self._artifact(TRAINER, 'model'), self._artifact(EXAMPLE_GEN, 'examples'),
                      PREDICTION_SAMPLE_LIMIT)),
            ('Blessing', self._blessing, None),
        ])
        self._section('model', 'Pushed model', [('', self._pushed_model, None)])
        self._section('timings', 'Timings', [('', self._timings, self._timings_inputs),
                                             ('', self._wall_time, None)])

    def _artifact(self, node_id: str, key: str, required: bool = True
                  ) -> Optional[Tuple[int, int]]:
        """What identifies an output of this run in a part's key: its MLMD id, and its
        creation time, since ids start again from 1 in a new metadata.sqlite. A missing
        output raises Missing if it is required, else gives None."""
        try:
            artifact = self.run.output(node_id, key)
        except Missing:
            if required:
                raise
            return None
        return artifact.id, artifact.mlmd_artifact.create_time_since_epoch

    def _training_inputs(self):
        return (self._artifact(TRAINER, 'model_run'),
                _custom_config(self.run.executions[TRAINER]).get('hyperparameters'))

    def _rmse_comparison_inputs(self):
        summary = self.run.summary
        return (summary.get('test_rmse'), summary.get('eval_rmse'),
                self._artifact(EVALUATOR, 'evaluation'),
                self._artifact(EVALUATOR, 'blessing', required=False),
                self._artifact(STATISTICS_GEN, 'statistics', required=False))

    def _section(self, anchor: str, title: str,
                 parts: Sequence[Tuple[str, Callable[[], str], Optional[Callable[[], Any]]]]):
        rendered = []
        for heading, build, inputs in parts:
            name = f'{anchor}/{heading}'
            key = self._part_key(name, inputs)
            body = self.parts.reusable(name, key) if key else None
            if body is not None:
                self.reused.append(f'{title}: {heading}' if heading else title)
                rendered.append(body)
                continue
            saved = len(self.figures.saved)
            body, complete = self._build_part(title, heading, build)
            if heading:
                body = f'<h3>{html.escape(heading)}</h3>{body}'
            if key and complete:
                # Only a whole part is kept: one that is missing or failed is tried anew.
                self.parts.store(name, key, body, self.figures.saved[saved:])
            rendered.append(body)
        self.sections.append((anchor, title, rendered))

    def _part_key(self, name: str, inputs: Optional[Callable[[], Any]]) -> Optional[str]:
        """The key of a part that may be reused, from the inputs it is drawn from; None for
        a part that is always built, or one that lacks an input (it will say which)."""
        if inputs is None:
            return None
        try:
            return self.parts.key([name, inputs()])
        except Exception:  # noqa: BLE001 -- the part is then built, and says what is wrong
            return None

    def _build_part(self, title: str, heading: str, build: Callable[[], str]
                    ) -> Tuple[str, bool]:
        """(the part's HTML, whether it was built whole)."""
        try:
            return build(), True
        except Missing as missing:
            return f'<p class="missing">{html.escape(str(missing))}</p>', False
        except Exception as error:  # noqa: BLE001 -- shown on the page and returned
            # One unreadable artifact must not cost the user the rest of the report;
            # the error is displayed where the part would be and listed in problems.
            where = f'{title}: {heading}' if heading else title
            self.problems.append(f'{where}: {type(error).__name__}: {error}')
            return (f'<div class="section-error"><p>This part could not be built: '
                    f'{html.escape(type(error).__name__)}: {html.escape(str(error))}</p>'
                    f'<pre>{html.escape(traceback.format_exc(limit=-3))}</pre></div>'), False

    # The header: what happened, in one glance.

    def _header(self) -> str:
        run, summary = self.run, self.run.summary
        failed = run.failed_components()
        if failed:
            status = (f'<span class="badge bad">stopped: {html.escape(failed[0])} failed'
                      '</span>')
        elif run.failure_message:
            status = '<span class="badge bad">failed</span>'
        elif PUSHER in run.executions:
            status = '<span class="badge good">completed</span>'
        else:
            status = '<span class="badge neutral">incomplete</span>'
        cached = [node_id for node_id, execution in run.executions.items()
                  if run_record.is_cached(execution)]
        if cached:
            status += (f' <span class="badge neutral" id="cached-count">{len(cached)} of '
                       f'{len(run.executions)} components from the cache</span>')
        blessed = summary.get('blessed')
        pushed = summary.get('pushed_model_dir')
        data = summary.get('data') or {}
        rows = [
            ('Test RMSE (TFMA, whole test split)', _value(_rmse_text(summary.get('test_rmse')),
                                                           'test-rmse')),
            ('Eval RMSE (Trainer, best epoch)', _value(_rmse_text(summary.get('eval_rmse')),
                                                       'eval-rmse')),
            ('Blessed', _Html(_value('yes' if blessed else 'no', 'blessed')
                              + self._from_cache(EVALUATOR, 'verdict'))),
            ('Pushed to', _Html(_value(pushed or 'nothing pushed', 'pushed-model-dir')
                                + (self._from_cache(PUSHER, 'push') if pushed else ''))),
            ('Data', f'{data.get("source")}: {data.get("path")}'),
            ('Wall time', f'{summary.get("wall_seconds") or 0:.1f} s'),
        ]
        failure = ''
        if run.failure_message:
            failure = (f'<p>The run ended with:</p>'
                       f'<pre>{html.escape(run.failure_message.strip())}</pre>')
        when = run.run_name.replace('T', ' ').split('.')[0] if run.run_name else 'unknown'
        return (f'<h1>{html.escape(summary.get("pipeline_name", configs.PIPELINE_NAME))} '
                f'run report</h1>'
                f'<p class="status">Run of {html.escape(when)} &nbsp; {status}</p>'
                f'{failure}{_table(("", ""), rows, table_id="summary")}')

    def _from_cache(self, node_id: str, what: str) -> str:
        """A note that `node_id` did not run in this run: what it shows is an earlier run's."""
        execution = self.run.executions.get(node_id)
        if execution is None or not run_record.is_cached(execution):
            return ''
        return (f' <span class="note">(an earlier run\'s {what}: this run took {node_id}\'s '
                'outputs from the cache, its inputs being unchanged)</span>')

    # Data.

    def _splits(self) -> str:
        counts = (self.run.summary.get('data') or {}).get('split_counts') or {}
        if not any(counts.values()):
            raise Missing(self.run.absence(STATISTICS_GEN, 'statistics'))
        total = sum(counts.values())
        rows = [(split, _value(f'{count:,}', f'count-{split}'), f'{100 * count / total:.1f} %')
                for split, count in counts.items()]
        rows.append(('all', f'{total:,}', '100 %'))
        skipped = ''
        try:
            examples = self.run.output(EXAMPLE_GEN, 'examples')
            skipped_rows = custom_property(examples, SKIPPED_ROWS_PROPERTY)
            if skipped_rows:
                skipped = (f'<p>{skipped_rows:,} malformed rating rows were skipped '
                           '(<code>--skip-bad-rows</code>).</p>')
        except Missing:
            pass  # the counts above come from the statistics; the note is optional
        return (str(_table(('split', 'examples', 'share'), rows, numeric_columns=(1, 2)))
                + '<p class="note">Examples per split, from StatisticsGen. The ExampleGen '
                'splits by a hash of (user, movie), the same on every machine.</p>' + skipped)

    def _rating_histogram(self) -> str:
        statistics = self.run.statistics()
        stars = np.arange(features.MIN_RATING, features.MAX_RATING + 1)
        figure, shares_ax = self.figures.new(3.2, width=_FULL_WIDTH / 2)
        width = 0.8 / len(statistics)
        rows = []
        for index, (split, split_statistics) in enumerate(statistics.items()):
            rating = _feature(split_statistics, features.LABEL).num_stats
            counts = _counts_per_star(rating, stars)
            shares = 100 * counts / counts.sum()
            shares_ax.bar(stars + (index - (len(statistics) - 1) / 2) * width, shares,
                          width=width, label=split, color=_COLOURS.get(split))
            rows.append((split, f'{rating.mean:.3f}', f'{rating.std_dev:.3f}',
                         f'{rating.min:g}', f'{rating.max:g}'))
        shares_ax.set(xlabel='rating (stars)', ylabel='share of the split (%)',
                      title='Ratings per split')
        shares_ax.set_xticks(stars)
        shares_ax.legend(frameon=False)
        caption = ('Share of each rating in each split, from StatisticsGen\'s histogram of '
                   f'<code>{features.LABEL}</code>. TFDV estimates its 10 equal-width buckets '
                   'from a quantile sketch; each bucket is counted at the nearest whole star, '
                   'so the shares are approximate (within a few tenths of a percent).')
        chart = self.figures.save(figure, 'ratings', 'Rating distribution per split', caption)
        table = _table(('split', 'mean', 'std dev', 'min', 'max'), rows,
                       numeric_columns=(1, 2, 3, 4))
        # The table sits beside the half-width chart.
        return f'<div class="side-by-side">{chart}<div>{table}</div></div>'

    def _long_tail(self) -> str:
        split = features.TRAIN_SPLIT
        statistics = self.run.statistics().get(split)
        if statistics is None:
            raise Missing(f'The statistics have no {split} split.')
        figure, axes = self.figures.new(3.4, columns=2)
        notes = []
        for ax, feature_name, noun, most in ((axes[0], features.USER_ID, 'user', 'active'),
                                             (axes[1], features.MOVIE_TITLE, 'movie', 'rated')):
            string_stats = _feature(statistics, feature_name).string_stats
            counts = np.array([b.sample_count for b in string_stats.rank_histogram.buckets])
            if counts.size == 0:
                raise Missing(f'The statistics of {feature_name} have no rank histogram.')
            total = string_stats.common_stats.num_non_missing
            ranks = np.arange(1, counts.size + 1)
            ax.fill_between(ranks, counts, step='mid', color=_COLOURS['train'], alpha=0.35)
            ax.plot(ranks, counts, drawstyle='steps-mid', color=_COLOURS['train'])
            ax.set(xlabel=f'{noun} rank (most ratings first)', ylabel='ratings',
                   title=f'Ratings per {noun} ({split} split)', xlim=(0, string_stats.unique))
            top_tenth = max(1, int(math.ceil(0.1 * string_stats.unique)))
            top_share = 100 * counts[:top_tenth].sum() / total
            complete = counts.size == string_stats.unique
            median = f'median {np.median(counts):g} ratings' if complete else (
                f'the histogram stops at rank {counts.size:,} of {string_stats.unique:,}, '
                f'where a {noun} has {counts[-1]:g} ratings')
            ax.axvline(top_tenth, color='#666', linestyle=':', linewidth=1)
            ax.annotate(f'top 10 %: {top_share:.0f} % of ratings', (top_tenth, counts.max()),
                        xytext=(6, -4), textcoords='offset points', va='top', fontsize=9)
            if not complete:
                ax.annotate(f'TFDV\'s histogram ends at rank {counts.size:,}',
                            (counts.size, counts[-1]), xytext=(4, 14),
                            textcoords='offset points', fontsize=9, color='#555')
            top = string_stats.top_values[0] if string_stats.top_values else None
            notes.append(
                f'{string_stats.unique:,} {noun}s; the 10 % most {most} hold '
                f'{top_share:.0f} % of the ratings; {median}'
                + (f'; the top one is <code>{html.escape(top.value)}</code> with '
                   f'{top.frequency:g}' if top else '') + '.')
        caption = ('From TFDV\'s rank histograms of <code>user_id</code> and '
                   '<code>movie_title</code> in StatisticsGen\'s statistics of the train split '
                   '(TFDV keeps the 1,000 most frequent values). ' + ' '.join(
                       f'{note[0].upper()}{note[1:]}' for note in notes))
        return str(self.figures.save(figure, 'long_tail', 'Ratings per user and per movie',
                                     caption))

    def _anomalies(self) -> str:
        artifact = self.run.output(EXAMPLE_VALIDATOR, 'anomalies')
        splits = _split_names(artifact)
        missing_files = [split for split in splits if not tf.io.gfile.exists(
            os.path.join(artifact.uri, f'Split-{split}', ANOMALIES_FILE))]
        if missing_files:
            raise Missing(f'ExampleValidator wrote no {ANOMALIES_FILE} for split(s) '
                          f'{", ".join(missing_files)} in {artifact.uri}.')
        lines = describe_anomalies(artifact, splits)
        if not lines:
            return (f'<p id="anomalies"><span class="badge good">none</span> Every split '
                    f'({", ".join(splits)}) matches the curated schema '
                    f'(<code>pipeline/schema/schema.pbtxt</code>).</p>')
        items = ''.join(f'<li>{html.escape(line)}</li>' for line in lines)
        return (f'<p><span class="badge bad">{len(lines)} anomal'
                f'{"y" if len(lines) == 1 else "ies"}</span> ExampleValidator found data that '
                'does not match the curated schema (<code>pipeline/schema/schema.pbtxt</code>); '
                'the AnomalyGate stops such a run before Transform.</p>'
                f'<ul class="anomalies" id="anomalies">{items}</ul>')

    def _feature_table(self) -> str:
        split = features.TRAIN_SPLIT
        statistics = self.run.statistics().get(split)
        if statistics is None:
            raise Missing(f'The statistics have no {split} split.')
        rows = []
        for feature in sorted(statistics.features, key=lambda f: f.path.step[0]):
            kind = feature.WhichOneof('stats')
            common = (feature.num_stats.common_stats if kind == 'num_stats'
                      else feature.string_stats.common_stats)
            present = 100 * common.num_non_missing / max(statistics.num_examples, 1)
            if kind == 'num_stats':
                summary = (f'mean {feature.num_stats.mean:.4g}, min {feature.num_stats.min:g}, '
                           f'max {feature.num_stats.max:g}')
            else:
                summary = f'{feature.string_stats.unique:,} distinct values'
            rows.append((feature.path.step[0], statistics_pb2.FeatureNameStatistics.Type.Name(
                feature.type).lower(), f'{present:.1f} %', summary))
        return (str(_table(('feature', 'type', 'present', 'values'), rows,
                           numeric_columns=(2,)))
                + '<p class="note">Train split, from StatisticsGen. TFDV\'s own interactive '
                'view (Facets) is not linked: its HTML loads scripts from cdnjs.cloudflare.com '
                'and raw.githubusercontent.com and relies on HTML imports, which current '
                'browsers removed, so it would not work offline (or at all).</p>')

    # Training.

    def _training(self) -> str:
        model_run = self.run.output(TRAINER, 'model_run')
        path = os.path.join(model_run.uri, HISTORY_FILE)
        if not tf.io.gfile.exists(path):
            raise Missing(f'The Trainer wrote no {HISTORY_FILE} in {model_run.uri}.')
        with tf.io.gfile.GFile(path) as f:
            history = json.load(f)
        if 'epochs' not in history:
            # Trainers before the members were trained as one model wrote
            # {"members": [...]}: curves per member, none of the served average.
            raise Missing(f'{path} has no "epochs" (keys: {", ".join(sorted(history))}): it was '
                          'written by an earlier Trainer, which recorded each ensemble member '
                          'separately. Rerun the pipeline with --no-cache to record the '
                          'served model\'s curves.')
        epochs_history = history['epochs']
        hyperparameters = _custom_config(self.run.executions[TRAINER]).get(
            'hyperparameters', {})
        patience = hyperparameters.get('early_stopping_patience')
        members = hyperparameters.get('ensemble_size') or 1
        epochs_run = len(epochs_history['rmse'])
        epochs = np.arange(1, epochs_run + 1)
        figure, (loss_ax, rmse_ax) = self.figures.new(3.6, columns=2)
        for ax, metric in ((loss_ax, 'loss'), (rmse_ax, 'rmse')):
            ax.plot(epochs, epochs_history[metric], color=_COLOURS['train'], marker='.',
                    label='train')
            if f'val_{metric}' in epochs_history:
                ax.plot(epochs, epochs_history[f'val_{metric}'], color=_COLOURS['eval'],
                        marker='.', linestyle='--', label='eval')
        val_rmse = epochs_history.get('val_rmse')
        if val_rmse:
            best = int(np.argmin(val_rmse)) + 1
            best_rmse = _value(f'{val_rmse[best - 1]:.4f}', 'best-eval-rmse')
            rmse_ax.plot(best, val_rmse[best - 1], marker='*', markersize=14,
                         color=_COLOURS['bad'], linestyle='none', label='best eval RMSE')
            for ax in (loss_ax, rmse_ax):
                ax.axvline(best, color=_COLOURS['bad'], linestyle=':', linewidth=1)
            best_epoch = _value(best, 'best-epoch')
            if patience:
                kept = f'epoch {best}: early stopping (patience {patience}) restored its weights'
            else:
                kept = f'epoch {epochs_run}: early stopping is off, the last weights are kept'
        else:
            best_epoch, best_rmse = 'n/a', 'n/a'
            kept = f'epoch {epochs_run}: the Trainer recorded no eval RMSE per epoch'
        loss_ax.set(xlabel='epoch', ylabel='loss', title='Loss')
        rmse_ax.set(xlabel='epoch', ylabel='RMSE', title='RMSE')
        for ax in (loss_ax, rmse_ax):
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.legend(frameon=False, fontsize=9)
        served = (f'the served model, the average of its {members} members, which train '
                  'together' if members > 1 else 'the served model')
        caption = (
            f'Per epoch, from the Trainer\'s <code>{HISTORY_FILE}</code>: RMSE of {served}. '
            'Train RMSE is averaged over the epoch while the weights change (and with dropout '
            'on); eval RMSE is measured on the eval split after each epoch. The loss is what '
            'TFRS reports for the last batch of the epoch, hence its noise: the MSE, summed '
            'over the members, which each minimise their own. Dotted line: the epoch of the '
            'best eval RMSE.')
        chart = self.figures.save(figure, 'training', 'Loss and RMSE per epoch', caption)
        table = _table(('epochs run', 'best eval epoch', 'best eval RMSE', 'weights kept'),
                       [(epochs_run, best_epoch, best_rmse, kept)],
                       numeric_columns=(0, 1, 2), table_id='training-table')
        settings = ', '.join(f'{key} {value}' for key, value in hyperparameters.items()
                             if key in ('architecture', 'epochs', 'batch_size', 'optimizer',
                                        'learning_rate', 'ensemble_size'))
        kept_rmse = (f'<p>The eval RMSE of the weights kept, measured again after training: '
                     f'{history["eval_rmse"]:.4f}.</p>'
                     if history.get('eval_rmse') is not None else '')
        refit = history.get('refit')
        if refit:
            kept_rmse += (f'<p>The served model is not these weights: it was refitted from the '
                          f'same start on train + eval ({refit["examples"]:,} ratings) for '
                          f'{refit["epochs"]} epochs, the best epoch count above, so it saw '
                          'eval; the eval RMSE above is that of the early-stopped model, '
                          'which did not.</p>')
        return (f'{chart}{table}{kept_rmse}<p class="note">Settings: {html.escape(settings)}. '
                f'TensorBoard logs: <code>tensorboard --logdir '
                f'{html.escape(model_run.uri)}</code></p>')

    # Evaluation.

    def _eval_result(self):
        evaluation = self.run.output(EVALUATOR, 'evaluation')
        return evaluation, tfma.load_eval_result(evaluation.uri)

    def _global_mean_rmse(self) -> Tuple[float, float]:
        """(train mean rating, RMSE on test of always predicting it), from the statistics.

        With the test split's mean m and (population) standard deviation s, predicting a
        constant c scores RMSE = sqrt(s^2 + (m - c)^2).
        """
        statistics = self.run.statistics()
        train = _feature(statistics[features.TRAIN_SPLIT], features.LABEL).num_stats
        test = _feature(statistics[features.TEST_SPLIT], features.LABEL).num_stats
        return train.mean, math.sqrt(test.std_dev ** 2 + (test.mean - train.mean) ** 2)

    def _rmse_comparison(self) -> str:
        summary = self.run.summary
        rows, bars = [], []
        test_rmse = summary.get('test_rmse')
        if test_rmse is None:
            raise Missing(self.run.absence(EVALUATOR, 'evaluation'))
        bars.append(('this model', test_rmse, _COLOURS['model']))
        rows.append(('this model', 'test', _rmse_text(test_rmse), 'TFMA, Evaluator'))
        baseline = self._blessed_baseline()
        if baseline is not None:
            baseline_rmse, baseline_uri = baseline
            bars.append(('last blessed model', baseline_rmse, _COLOURS['baseline']))
            rows.append(('last blessed model', 'test', _rmse_text(baseline_rmse),
                         _Html(f'TFMA baseline: {_code(baseline_uri)}; this model '
                               f'{test_rmse - baseline_rmse:+.4f}')))
        try:
            train_mean, mean_rmse = self._global_mean_rmse()
            bars.append((f'global mean ({train_mean:.2f})', mean_rmse, '#c9b27c'))
            rows.append((f'global mean baseline: always {train_mean:.3f}', 'test',
                         _value(_rmse_text(mean_rmse), 'global-mean-rmse'),
                         'the train split\'s mean rating, scored from the statistics'))
        except Missing as missing:
            rows.append(('global mean baseline', 'test', 'n/a', str(missing)))
        if summary.get('eval_rmse') is not None:
            rows.append(('this model', 'eval', _rmse_text(summary['eval_rmse']),
                         'Trainer, at the epoch early stopping kept'))
        threshold = self._rmse_upper_bound()
        figure, ax = self.figures.new(0.55 * len(bars) + 1.1)
        labels = [label for label, _, _ in bars]
        values = [value for _, value, _ in bars]
        ax.barh(labels, values, color=[colour for _, _, colour in bars], height=0.6)
        for y, value in enumerate(values):
            ax.text(value, y, f' {value:.4f}', va='center', fontsize=10)
        if threshold is not None:
            ax.axvline(threshold, color=_COLOURS['bad'], linestyle='--', linewidth=1.2,
                       label=f'blessing bound: RMSE <= {threshold:g}')
            ax.legend(frameon=False, loc='lower right', bbox_to_anchor=(1.0, 1.0))
        ax.invert_yaxis()
        ax.set_xlim(0, max(values + [threshold or 0]) * 1.12)
        ax.set(xlabel='RMSE on the test split (lower is better)')
        caption = ('The candidate\'s RMSE on the whole test split next to the baselines: '
                   'the last blessed model, when the Evaluator had one (TFMA scores it on the '
                   'same examples), and always predicting the train split\'s mean rating, '
                   'computed from StatisticsGen\'s mean and standard deviation of '
                   '<code>user_rating</code> per split.')
        chart = self.figures.save(figure, 'rmse', 'Test RMSE next to the baselines', caption)
        table = _table(('model', 'split', 'RMSE', 'source'), rows, numeric_columns=(2,))
        return f'{table}{chart}'

    def _blessed_baseline(self) -> Optional[Tuple[float, str]]:
        """(RMSE on test, model uri) of the last blessed model, when the Evaluator had one."""
        try:
            blessing = self.run.output(EVALUATOR, 'blessing')
        except Missing:
            return None
        baseline_uri = custom_property(blessing, 'baseline_model')
        if not baseline_uri:
            return None
        if (custom_property(blessing, 'baseline_model_id')
                == custom_property(blessing, 'current_model_id')):
            # With TFX's own baseline strategy (Kubeflow), a rerun whose Trainer came from
            # the cache compares the model with itself.
            baseline_uri += ' (the same model as this run\'s)'
        _, result = self._eval_result()
        for slice_key, metrics in result.slicing_metrics:
            if slice_key == ():
                values = metrics['']['']
                if _RMSE_DIFF in values:
                    # TFMA reports the candidate's RMSE and its difference to the baseline.
                    return (values[_RMSE]['doubleValue'] - values[_RMSE_DIFF]['doubleValue'],
                            baseline_uri)
        return None

    def _rmse_upper_bound(self) -> Optional[float]:
        try:
            _, result = self._eval_result()
        except Missing:
            return None
        for _, threshold in _rmse_thresholds(result.config):
            if threshold.value_threshold.HasField('upper_bound'):
                return threshold.value_threshold.upper_bound.value
        return None

    def _slices(self) -> str:
        _, result = self._eval_result()
        overall, slices = None, []
        for slice_key, metrics in result.slicing_metrics:
            values = metrics['']['']
            if _RMSE not in values:
                continue
            rmse = values[_RMSE]['doubleValue']
            count = values.get(_EXAMPLE_COUNT, {}).get('doubleValue', 0)
            diff = values.get(_RMSE_DIFF, {}).get('doubleValue')
            if slice_key == ():
                overall = rmse
            else:
                slices.append((_slice_order(slice_key, result.config), _slice_label(slice_key),
                               rmse, count, diff))
        if not slices:
            raise Missing('TFMA reported no per-slice RMSE.')
        slices.sort()
        # A gap between the slices of one feature and the next.
        positions, position, previous_group = [], 0.0, None
        for order, *_ in slices:
            if previous_group is not None and order[0][0] != previous_group:
                position += 0.6
            positions.append(position)
            position, previous_group = position + 1, order[0][0]
        positions = np.array(positions)
        figure, ax = self.figures.new(0.32 * position + 1.3)
        rmses = np.array([rmse for _, _, rmse, _, _ in slices])
        with_baseline = all(diff is not None for *_, diff in slices)
        height = 0.4 if with_baseline else 0.65
        ax.barh(positions, rmses, height=height, color=_COLOURS['model'], label='this model')
        if with_baseline:
            ax.barh(positions + height, rmses - [diff for *_, diff in slices], height=height,
                    color=_COLOURS['baseline'], label='last blessed model')
        for y, (_, _, rmse, count, _) in zip(positions, slices):
            ax.text(rmse, y, f' {rmse:.3f}  (n={count:,.0f})', va='center', fontsize=9)
        if overall is not None:
            ax.axvline(overall, color='#333', linestyle='--', linewidth=1,
                       label=f'whole test split {overall:.3f}')
        ax.set_yticks(positions + (height / 2 if with_baseline else 0))
        ax.set_yticklabels([label for _, label, _, _, _ in slices])
        ax.invert_yaxis()
        ax.set_xlim(0, rmses.max() * 1.22)
        ax.set(xlabel='RMSE on the test split')
        ax.legend(frameon=False, loc='lower right', bbox_to_anchor=(1.0, 1.0), ncol=3,
                  fontsize=9)
        slice_names = ', '.join(f'<code>{html.escape(key)}</code>'
                                for spec in result.config.slicing_specs
                                for key in spec.feature_keys)
        caption = (f'TFMA\'s RMSE per slice of the test split ({slice_names}), with each '
                   'slice\'s example count. Slices are reported, not gated: a small slice\'s '
                   'RMSE is too noisy to decide on.')
        return str(self.figures.save(figure, 'slices', 'RMSE per slice', caption))

    def _predictions(self) -> str:
        model = self.run.output(TRAINER, 'model')
        examples = self.run.output(EXAMPLE_GEN, 'examples')
        files = tf.io.gfile.glob(os.path.join(examples.uri, f'Split-{features.TEST_SPLIT}',
                                              '*.gz'))
        if not files:
            raise Missing(f'The ExampleGen wrote no test examples in {examples.uri}.')
        loaded = tf.saved_model.load(path_utils.serving_model_path(model.uri))
        serve = loaded.signatures[signatures.SERVING_DEFAULT]
        label_spec = {features.LABEL: tf.io.FixedLenFeature([], tf.float32)}
        predicted, actual = [], []
        counts = (self.run.summary.get('data') or {}).get('split_counts') or {}
        # One example in `every`, picked by a hash of its bytes: the files keep the input's
        # order (GroupLens 1M is sorted by user), so the first ones would not be typical.
        every = max(1, -(-counts.get(features.TEST_SPLIT, 0) // PREDICTION_SAMPLE_LIMIT))
        dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
        if every > 1:
            dataset = dataset.filter(
                lambda record: tf.strings.to_hash_bucket_fast(record, every) == 0)
        for batch in dataset.take(PREDICTION_SAMPLE_LIMIT).batch(_PREDICTION_BATCH):
            predicted.append(serve(**{signatures.EXAMPLES: batch})[signatures.RATING].numpy())
            actual.append(tf.io.parse_example(batch, label_spec)[features.LABEL].numpy())
        predicted, actual = np.concatenate(predicted), np.concatenate(actual)
        rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
        stars = np.arange(features.MIN_RATING, features.MAX_RATING + 1)
        groups = [predicted[actual == star] for star in stars]
        figure, (box_ax, hist_ax) = self.figures.new(3.8, columns=2)
        present = [index for index, group in enumerate(groups) if group.size]
        box_ax.boxplot([groups[i] for i in present], positions=stars[present], widths=0.5,
                       showfliers=False, medianprops={'color': _COLOURS['model']})
        box_ax.plot(stars[present], [groups[i].mean() for i in present], marker='D',
                    color=_COLOURS['eval'], linestyle='none', label='mean prediction')
        box_ax.plot(stars, stars, color='#999', linestyle=':', label='perfect')
        box_ax.set(xlabel='actual rating', ylabel='predicted rating',
                   title='Predictions per actual rating', ylim=(0.8, 5.2))
        box_ax.set_xticks(stars)
        box_ax.set_xticklabels([f'{star:g}\n(n={groups[i].size:,})'
                                for i, star in enumerate(stars)])
        box_ax.legend(frameon=False, loc='lower right', fontsize=9)
        rounded = np.clip(np.round(predicted), stars[0], stars[-1])
        for offset, (values, label, colour) in zip((-0.2, 0.2), (
                (rounded, 'predicted, rounded to a star', _COLOURS['model']),
                (actual, 'actual', _COLOURS['eval']))):
            hist_ax.bar(stars + offset, [100 * np.mean(values == star) for star in stars],
                        width=0.4, color=colour, label=label)
        hist_ax.set(xlabel='rating (stars)', ylabel='% of examples',
                    title='Predicted and actual ratings')
        hist_ax.set_xticks(stars)
        hist_ax.legend(frameon=False, fontsize=9)
        sample = (f'all {actual.size:,} test examples' if every == 1 else
                  f'{actual.size:,} test examples, one in {every} by a hash of the example')
        caption = (
            f'The trained model\'s <code>serving_default</code> signature on {sample} '
            f'(raw tf.Examples from the ExampleGen). Boxes: quartiles of the predictions for '
            f'each true rating; whiskers 1.5 IQR. RMSE of these predictions: '
            f'{_value(f"{rmse:.4f}", "prediction-rmse")}. A model trained on squared error '
            f'tends to hedge towards the mean: look for 1s rated too high and 5s too low, and '
            f'(right) few predicted extreme stars.')
        return str(self.figures.save(figure, 'predictions', 'Predicted vs actual rating',
                                     caption))

    def _blessing(self) -> str:
        blessing = self.run.output(EVALUATOR, 'blessing')
        evaluation, result = self._eval_result()
        blessed = bool(custom_property(blessing, 'blessed'))
        has_baseline = bool(custom_property(blessing, 'baseline_model'))
        thresholds = []
        for metric, threshold in _rmse_thresholds(result.config):
            thresholds.extend(_describe_threshold(metric, threshold))
        validation = tfma.load_validation_result(evaluation.uri)
        reasons = []
        for slice_validation in validation.metric_validations_per_slice:
            for failure in slice_validation.failures:
                reasons.append(_describe_failure(failure, slice_validation.slice_key))
        if validation.missing_thresholds:
            reasons.append('TFMA computed no value for some threshold\'s metric')
        for spec in validation.missing_slices:
            reasons.append(f'no test examples in slice {", ".join(spec.feature_keys) or "all"}')
        badge = ('<span class="badge good">blessed</span>' if blessed
                 else '<span class="badge bad">not blessed</span>')
        if not has_baseline:
            # Without a baseline TFMA "rubber-stamps" the model: it clears change thresholds
            # from the eval_config it saves, so the list above lacks the pipeline's one.
            thresholds.append('and, once a model has been blessed, better than the last blessed '
                              'model (not applied to this run: there was none)')
        threshold_items = ''.join(f'<li>{html.escape(t)}</li>' for t in thresholds)
        if blessed:
            verdict = 'Every threshold was met.'
        elif reasons:
            verdict = 'Failed: ' + '; '.join(reasons) + '.'
        else:
            verdict = ('TFMA recorded no failing threshold; see the validation result in '
                       f'{evaluation.uri}.')
        return (f'<p>{badge} {html.escape(verdict)}</p><p>The Evaluator blesses a model only '
                f'if, on the whole test split:</p><ul>{threshold_items}</ul>'
                f'<p class="note">From the eval_config and validation result in '
                f'<code>{html.escape(evaluation.uri)}</code>.</p>')

    # The pushed model.

    def _pushed_model(self) -> str:
        pushed_dir = self.run.summary.get('pushed_model_dir')
        if not pushed_dir:
            raise Missing(self._why_not_pushed())
        signatures_path = os.path.join(pushed_dir, SERVING_SIGNATURES_FILE)
        if not tf.io.gfile.exists(signatures_path):
            raise Missing(f'{pushed_dir} holds no {SERVING_SIGNATURES_FILE}: the pushed model '
                          'has been moved or deleted since the run.')
        # The SignatureDefs as TF Serving reads them, from the graph file alone: the same
        # specs as tf.saved_model.load would give, without a second second-long model load.
        saved_model = saved_model_pb2.SavedModel()
        with tf.io.gfile.GFile(signatures_path, 'rb') as f:
            saved_model.ParseFromString(f.read())
        rows = []
        for name, signature in sorted(saved_model.meta_graphs[0].signature_def.items()):
            if name.startswith('__'):
                continue  # TensorFlow's own init op, not something to call
            rows.append((_code(name), _Html('<br>'.join(
                _code(_tensor_spec(key, info)) for key, info in sorted(signature.inputs.items())
            )), _Html('<br>'.join(_code(_tensor_spec(key, info))
                                  for key, info in sorted(signature.outputs.items())))))
        serving_dir = os.path.dirname(pushed_dir.rstrip('/'))
        command = (f'python rank.py --model-dir {serving_dir} --user-id {self._example_user()} '
                   '--top-k 10')
        return (f'<p>Path: {_code(pushed_dir)} &nbsp; version '
                f'<code id="pushed-version">{html.escape(os.path.basename(pushed_dir))}</code> '
                '(TF Serving layout: numbered versions, the newest is served).</p>'
                + str(_table(('signature', 'inputs', 'outputs'), rows))
                + '<p>Rank the catalog for one user with the served model (rank.py loads the '
                f'newest version in the dir):</p><pre>{html.escape(command)}</pre>'
                '<p class="note">Signatures read from the SavedModel\'s '
                f'{SERVING_SIGNATURES_FILE}; shapes are [batch] where -1 is any size. '
                'docs/serving.md describes each one.</p>')

    def _why_not_pushed(self) -> str:
        try:
            pushed = self.run.output(PUSHER, 'pushed_model')
        except Missing as missing:
            return f'Nothing was pushed. {missing}'
        if custom_property(pushed, 'pushed'):
            return (f'The Pusher pushed to {custom_property(pushed, "pushed_destination")}, '
                    'but the run summary names no pushed dir.')
        try:
            blessing = self.run.output(EVALUATOR, 'blessing')
        except Missing as missing:
            return f'Nothing was pushed. {missing}'
        if not custom_property(blessing, 'blessed'):
            return ('Nothing was pushed: the Evaluator did not bless the model (see '
                    f'Evaluation, Blessing). {self._still_served()}')
        return 'Nothing was pushed, although the model was blessed: see the Pusher\'s logs.'

    def _still_served(self) -> str:
        """Which earlier version the serving dir still serves, in words."""
        destination = json.loads(custom_property(self.run.executions[PUSHER], 'push_destination')
                                 or '{}')
        serving_dir = destination.get('filesystem', {}).get('base_directory')
        if not serving_dir or not tf.io.gfile.isdir(serving_dir):
            return 'No model has been pushed to this output dir yet.'
        # TF Serving serves the highest numbered version.
        versions = [int(name.strip('/')) for name in tf.io.gfile.listdir(serving_dir)
                    if name.strip('/').isdigit()]
        if not versions:
            return f'No model has been pushed to {serving_dir} yet.'
        return (f'{serving_dir} still serves version {max(versions)}, pushed by an earlier '
                'run.')

    def _example_user(self) -> str:
        """The most active user of the train split: one the model surely knows."""
        try:
            statistics = self.run.statistics()[features.TRAIN_SPLIT]
            top_values = _feature(statistics, features.USER_ID).string_stats.top_values
        except (Missing, KeyError):
            return _EXAMPLE_USER_ID
        return top_values[0].value if top_values else _EXAMPLE_USER_ID

    # Timings.

    def _component_timings(self) -> List[Tuple[str, str, float]]:
        """(component, state, seconds to 0.1 s) in start order, as the page shows them."""
        components = self.run.summary.get('components') or {}
        if not components:
            raise Missing('No component has run yet.')
        rows = []
        for node_id, timing in components.items():
            execution = self.run.executions.get(node_id)
            state = (_STATES.get(execution.last_known_state, 'unknown') if execution
                     else ('cached' if timing['cached'] else 'done'))
            rows.append((node_id, state, round(timing['seconds'], 1)))
        return rows

    def _timings_inputs(self):
        # The chart and table show the seconds to 0.1 s: runs served from the cache, whose
        # components take next to nothing, mostly share one chart.
        return self._component_timings(), self.run.failed_components()

    def _timings(self) -> str:
        bars = self._component_timings()
        figure, ax = self.figures.new(0.3 * len(bars) + 1.0, width=6.4)
        colours = {'cached': _COLOURS['cached'], 'FAILED': _COLOURS['bad']}
        ax.barh([name for name, _, _ in bars], [seconds for _, _, seconds in bars],
                color=[colours.get(state, _COLOURS['model']) for _, state, _ in bars],
                height=0.6)
        longest = max(seconds for _, _, seconds in bars)
        for y, (_, state, seconds) in enumerate(bars):
            suffix = f' ({state})' if state != 'done' else ''
            ax.text(seconds + longest * 0.005, y, f'{seconds:.1f} s{suffix}', va='center',
                    fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, longest * 1.15 + 0.1)
        ax.set(xlabel='seconds')
        caption = ('Seconds per component in start order, from run_summary.json (MLMD\'s '
                   'execution times); grey: taken from the cache, red: failed.')
        failed = self.run.failed_components()
        after = ''
        if failed:
            after = (f'<p>The run stopped when {html.escape(failed[0])} failed; the components '
                     'after it did not run.</p>')
        chart = self.figures.save(figure, 'timings', 'Seconds per component', caption)
        rows = [(name, state, f'{seconds:.1f}') for name, state, seconds in bars]
        table = _table(('component', 'state', 'seconds'), rows, numeric_columns=(2,),
                       table_id='timings-table')
        return f'{after}<div class="side-by-side">{chart}<div>{table}</div></div>'

    def _wall_time(self) -> str:
        wall = self.run.summary.get('wall_seconds')
        if not wall:
            return ''
        return f'<p>The whole run took {wall:.1f} s.</p>'

    def _reused_note(self) -> str:
        if not self.reused:
            return ''
        return (f' <span id="reused-parts">Taken from the previous report, drawn from the '
                f'same artifacts: {html.escape(", ".join(self.reused))}</span> '
                '(<code>python report.py --rebuild</code> draws them again).')

    def html(self) -> str:
        nav = ''.join(f'<a href="#{anchor}">{html.escape(title)}</a>'
                      for anchor, title, _ in self.sections)
        body = ''.join(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{"".join(parts)}'
                       '</section>' for anchor, title, parts in self.sections)
        problems = ''
        if self.problems:
            problems = (f'<p class="section-error">{len(self.problems)} part(s) of this report '
                        'could not be built; they show their error below.</p>')
        footer = (f'<footer>Written {time.strftime("%Y-%m-%d %H:%M:%S")} by pipeline/report.py '
                  f'from {html.escape(self.run.output_dir)}: run summary from '
                  f'{html.escape(self.run.summary_origin)}; MLMD run '
                  f'{html.escape(self.run.run_name or "(all executions)")}. Regenerate with '
                  f'<code>python report.py --output-dir {html.escape(self.run.output_dir)}'
                  '</code>.' + self._reused_note() + '</footer>')
        title = html.escape(f'{configs.PIPELINE_NAME} run report')
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<title>{title}</title><style>{_CSS}</style></head><body><main>'
                f'{self._header()}<nav>{nav}</nav>{problems}{body}{footer}'
                '</main></body></html>\n')


# --------------------------------------------------------------------------------------------
# Small pure helpers.

def _counts_per_star(rating: statistics_pb2.NumericStatistics, stars: np.ndarray) -> np.ndarray:
    """Counts per whole star from TFDV's standard (equal-width) histogram of the rating.

    MovieLens ratings are whole stars; each bucket's count goes to the star nearest to the
    bucket's middle.
    """
    standard = [h for h in rating.histograms
                if h.type == statistics_pb2.Histogram.STANDARD]
    if not standard:
        raise Missing('The statistics of the rating have no histogram.')
    counts = np.zeros(len(stars))
    for bucket in standard[0].buckets:
        middle = (bucket.low_value + bucket.high_value) / 2
        counts[int(np.argmin(np.abs(stars - middle)))] += bucket.sample_count
    return counts


def _slice_label(slice_key) -> str:
    return ', '.join(_slice_part(feature, value) for feature, value in slice_key)


def _slice_part(feature: str, value) -> str:
    if feature == features.BUCKETIZED_USER_AGE:
        buckets = features.AGE_BUCKETS
        index = buckets.index(int(value)) if int(value) in buckets else None
        if index is None:
            return f'age {value}'
        if index == 0:
            return f'age under {buckets[1]}'
        if index == len(buckets) - 1:
            return f'age {value}+'
        return f'age {value}-{buckets[index + 1] - 1}'
    if feature == features.USER_GENDER:
        return f'gender {value}'
    return f'{feature} {value}'


def _slice_order(slice_key, eval_config) -> Tuple:
    """Slices in the eval_config's order, then by value (ages numerically)."""
    keys = [key for spec in eval_config.slicing_specs for key in spec.feature_keys]
    return tuple((keys.index(feature) if feature in keys else len(keys),
                  (0, value, '') if isinstance(value, (int, float)) else (1, 0, str(value)))
                 for feature, value in slice_key)


def _rmse_thresholds(eval_config):
    """(metric class name, MetricThreshold) of every threshold on the whole test split."""
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            if metric.HasField('threshold'):
                yield metric.class_name, metric.threshold
            for per_slice in metric.per_slice_thresholds:
                if any(not spec.feature_keys and not spec.feature_values
                       for spec in per_slice.slicing_specs):
                    yield metric.class_name, per_slice.threshold


def _describe_threshold(metric: str, threshold) -> List[str]:
    lines = []
    value = threshold.value_threshold
    if value.HasField('upper_bound'):
        lines.append(f'{metric} <= {value.upper_bound.value:g}')
    if value.HasField('lower_bound'):
        lines.append(f'{metric} >= {value.lower_bound.value:g}')
    change = threshold.change_threshold
    if change.HasField('absolute') or change.HasField('relative'):
        lower_is_better = change.direction == tfma.MetricDirection.LOWER_IS_BETTER
        comparison = '<=' if lower_is_better else '>='
        better = 'lower' if lower_is_better else 'higher'
        if change.HasField('absolute'):
            lines.append(f'{metric} minus the last blessed model\'s {comparison} '
                         f'{change.absolute.value:g} ({better} is better), when there is one')
        if change.HasField('relative'):
            lines.append(f'{metric} change relative to the last blessed model {comparison} '
                         f'{change.relative.value:g}, when there is one')
    return lines


def _describe_failure(failure, slice_key) -> str:
    metric = failure.metric_key.name
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    where = '' if not slice_key.single_slice_keys else f' on slice {slice_key}'
    if failure.metric_key.is_diff:
        limit = threshold.change_threshold.absolute.value
        return (f'{metric} minus the last blessed model\'s is {value:+.4f}{where}, '
                f'not <= {limit:g}: not better than the model already served')
    bound = threshold.value_threshold
    limits = []
    if bound.HasField('upper_bound'):
        limits.append(f'<= {bound.upper_bound.value:g}')
    if bound.HasField('lower_bound'):
        limits.append(f'>= {bound.lower_bound.value:g}')
    message = f'; {failure.message.strip()}' if failure.message.strip() else ''
    return f'{metric} is {value:.4f}{where}, not {" and ".join(limits)}{message}'


def _tensor_spec(key: str, info) -> str:
    dtype = tf.dtypes.as_dtype(info.dtype).name
    if info.tensor_shape.unknown_rank:
        return f'{key}: {dtype}, any shape'
    shape = ', '.join(str(d.size) for d in info.tensor_shape.dim)
    return f'{key}: {dtype}[{shape}]'
