"""The run report, built from real pipeline runs: a complete one, its cached rerun, and one
that the anomaly gate stopped."""
import glob
import html
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
import tensorflow as tf

import local_runner
from runs.output_dir import OutputDir
import report as report_cli
from datasets import synthetic
from models import features
from models.artifacts import HISTORY_FILE
from reporting import report
from runs import record as run_record
from tests.conftest import SYNTHETIC_RUN_FLAGS

pytestmark = pytest.mark.e2e

FIGURES = {'ratings.png', 'long_tail.png', 'training.png', 'rmse.png', 'slices.png',
           'predictions.png', 'timings.png'}
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
ANOMALOUS_AGE = 150  # outside the schema's domain of raw_user_age (1..120)


class _PageParser(HTMLParser):
    """The page's images, links, scripts and every attribute that could fetch something."""

    def __init__(self):
        super().__init__()
        self.images, self.fetched, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'img':
            self.images.append(attrs['src'])
        if tag == 'script':
            self.scripts += 1
        self.fetched.extend(value for name, value in attrs.items()
                            if name in ('src', 'href', 'srcset', 'data') and value)


def parse(page: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(page)
    return parser


def value_by_id(page: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}">([^<]*)<', page)
    assert match, f'the page has no element with id {element_id!r}'
    return html.unescape(match.group(1))


def section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f'the page has no section {anchor!r}'
    return match.group(1)


def text(fragment: str) -> str:
    """The visible text of some HTML, whitespace collapsed."""
    return ' '.join(html.unescape(re.sub(r'<[^>]+>', ' ', fragment)).split())


def snapshot(output_dir, destination, **build_args):
    """Builds the report and copies it away, so that a later run in the dir cannot change
    what a test sees."""
    result = report.build_report(output_dir, **build_args)
    copy = shutil.copytree(os.path.dirname(result.path), destination)
    with open(os.path.join(copy, report.INDEX_FILE), encoding='utf-8') as f:
        page = f.read()
    return {'dir': copy, 'page': page, 'problems': result.problems,
            'seconds': result.seconds}


def read_summary(output_dir):
    with open(OutputDir(output_dir).summary) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def first_report(completed_run, tmp_path_factory):
    # Drawn anew: the runner has already written this report, which could be reused.
    built = snapshot(completed_run, str(tmp_path_factory.mktemp('first') / 'report'),
                     reuse=False)
    built['summary'] = read_summary(completed_run)
    return built


@pytest.fixture(scope='module')
def rerun_report(first_report, completed_run, tmp_path_factory):
    """The same pipeline again: every component is taken from the cache."""
    code = local_runner.main(['--output-dir', completed_run, *SYNTHETIC_RUN_FLAGS])
    assert code == 0
    built = snapshot(completed_run, str(tmp_path_factory.mktemp('rerun') / 'report'))
    built['summary'] = read_summary(completed_run)
    return built


@pytest.fixture(scope='module')
def anomalous_run(tmp_path_factory):
    """The output dir of a run stopped by the AnomalyGate: one user is 150 years old."""
    root = tmp_path_factory.mktemp('anomalous')
    data_dir = synthetic.write_grouplens(str(root / 'data'), 3000, seed=1)
    users_path = os.path.join(data_dir, 'u.user')
    with open(users_path) as f:
        users = f.read().splitlines()
    fields = users[0].split('|')
    fields[1] = str(ANOMALOUS_AGE)  # u.user: id|age|gender|occupation|zip
    users[0] = '|'.join(fields)
    with open(users_path, 'w') as f:
        f.write('\n'.join(users) + '\n')
    output_dir = str(root / 'run')
    assert local_runner.main(['--output-dir', output_dir, '--data-dir', data_dir]) != 0
    return output_dir


FAILURE_MESSAGE = 'The examples do not match the schema (pipeline/schema/schema.pbtxt)'


@pytest.fixture(scope='module')
def anomalous_report(anomalous_run, tmp_path_factory):
    return snapshot(anomalous_run, str(tmp_path_factory.mktemp('anomalous-report') / 'r'),
                    failure_message=FAILURE_MESSAGE)


# A complete run.

def test_every_figure_on_the_page_is_a_png_written_next_to_it(first_report):
    images = parse(first_report['page']).images
    assert set(images) == FIGURES
    for name in images:
        path = os.path.join(first_report['dir'], name)
        assert os.path.isfile(path), f'{name} is on the page but was not written'
        with open(path, 'rb') as f:
            content = f.read()
        assert content.startswith(PNG_SIGNATURE), f'{name} is not a PNG'
        assert len(content) > 5000, f'{name} is only {len(content)} bytes'


def test_page_needs_no_network_and_no_javascript(first_report):
    page = parse(first_report['page'])
    assert page.scripts == 0
    assert page.fetched, 'the parser found no links or images at all'
    for target in page.fetched:
        # Only the page's own figures and in-page anchors.
        assert target.startswith('#') or re.fullmatch(r'[\w.-]+\.png', target), target
    assert '://' not in re.sub(r'<footer>.*</footer>', '', first_report['page'], flags=re.S)


def test_numbers_on_the_page_are_those_of_run_summary(first_report):
    page, summary = first_report['page'], first_report['summary']
    assert float(value_by_id(page, 'test-rmse')) == pytest.approx(summary['test_rmse'],
                                                                  abs=5e-5)
    assert float(value_by_id(page, 'eval-rmse')) == pytest.approx(summary['eval_rmse'],
                                                                  abs=5e-5)
    for split, count in summary['data']['split_counts'].items():
        assert int(value_by_id(page, f'count-{split}').replace(',', '')) == count
    assert summary['blessed'] is True
    assert value_by_id(page, 'blessed') == 'yes'
    assert value_by_id(page, 'pushed-model-dir') == summary['pushed_model_dir']
    assert value_by_id(page, 'pushed-version') == os.path.basename(
        summary['pushed_model_dir'])
    assert 'run summary from run_summary.json' in page
    assert 'id="cached-count"' not in page
    assert "an earlier run's" not in page


def test_every_part_of_a_complete_run_is_built(first_report):
    assert first_report['problems'] == []
    assert 'class="section-error"' not in first_report['page']
    assert 'class="missing"' not in first_report['page']
    assert first_report['seconds'] < 20


def test_global_mean_baseline_is_the_rmse_of_the_train_mean_on_test(first_report,
                                                                    completed_run):
    store = run_record.connect(OutputDir(completed_run).metadata)
    examples = run_record.RunRecord(store).outputs(report.EXAMPLE_GEN)['examples'][0]

    def ratings(split):
        files = glob.glob(os.path.join(examples.uri, f'Split-{split}', '*.gz'))
        spec = {features.LABEL: tf.io.FixedLenFeature([], tf.float32)}
        batches = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(10_000)
        return np.concatenate([tf.io.parse_example(b, spec)[features.LABEL].numpy()
                               for b in batches])

    train_mean = ratings(features.TRAIN_SPLIT).mean()
    expected = math.sqrt(np.mean((ratings(features.TEST_SPLIT) - train_mean) ** 2))
    shown = float(value_by_id(first_report['page'], 'global-mean-rmse'))
    assert shown == pytest.approx(expected, abs=2e-4)
    # A baseline only means something if the model beats it.
    assert first_report['summary']['test_rmse'] < shown


def test_predicted_vs_actual_scores_what_tfma_scored(first_report):
    # Every test example goes through the model (far fewer than the sample limit), so the
    # RMSE of the plotted predictions is the Evaluator's own.
    shown = float(value_by_id(first_report['page'], 'prediction-rmse'))
    assert shown == pytest.approx(first_report['summary']['test_rmse'], abs=1e-3)


def test_training_marks_the_epoch_early_stopping_kept(first_report, completed_run):
    store = run_record.connect(OutputDir(completed_run).metadata)
    record = run_record.RunRecord(store)
    # The first run's Trainer: the rerun's is a cached copy of the same execution's outputs.
    model_run = record.outputs(report.TRAINER)['model_run'][0]
    with open(os.path.join(model_run.uri, HISTORY_FILE)) as f:
        history = json.load(f)
    # One set of curves, those of the served average of the members.
    val_rmse = history['epochs']['val_rmse']
    best = int(np.argmin(val_rmse)) + 1
    page = first_report['page']
    assert int(value_by_id(page, 'best-epoch')) == best
    assert float(value_by_id(page, 'best-eval-rmse')) == pytest.approx(val_rmse[best - 1],
                                                                       abs=5e-5)
    rows = re.findall(r'<tr>(.*?)</tr>', re.search(
        r'<table id="training-table">(.*?)</table>', page, re.S).group(1))
    assert len(rows) == 2, rows  # the header and the one model
    assert int(text(rows[1]).split()[0]) == len(history['epochs']['rmse'])
    # Early stopping restored the best epoch's weights: the RMSE measured again after
    # training is that epoch's.
    assert history['eval_rmse'] == pytest.approx(val_rmse[best - 1], abs=2e-3)


def test_pushed_model_lists_its_signatures_and_a_rank_call(first_report):
    model = text(section(first_report['page'], 'model'))
    for signature in ('serving_default', 'predict_rating', 'rank', 'top_k'):
        assert signature in model
    assert '__saved_model_init_op' not in model
    assert 'user_id: string[]' in model and 'k: int32[]' in model
    serving_dir = os.path.dirname(first_report['summary']['pushed_model_dir'])
    assert re.search(rf'python rank.py --model-dir {re.escape(serving_dir)} --user-id \S+ '
                     r'--top-k 10', model)


def test_timings_list_every_component_of_the_run(first_report):
    rows = re.findall(r'<tr><td>([\w-]+)</td><td>(\w+)</td><td class="num">([\d.]+)</td>',
                      section(first_report['page'], 'timings'))
    components = first_report['summary']['components']
    assert [name for name, _, _ in rows] == list(components), rows
    for name, state, seconds in rows:
        assert state == 'done', rows
        # Shown to 0.1 s.
        assert float(seconds) == pytest.approx(components[name]['seconds'], abs=0.051), rows


# The same run again, from the cache.

def test_rerun_marks_the_components_taken_from_the_cache(rerun_report):
    rows = dict(re.findall(r'<tr><td>([\w-]+)</td><td>(\w+)</td>',
                           section(rerun_report['page'], 'timings')))
    components = rerun_report['summary']['components']
    assert rows['Trainer'] == 'cached'
    for name, timing in components.items():
        assert (rows[name] == 'cached') == timing['cached'], name
    cached = sum(timing['cached'] for timing in components.values())
    assert value_by_id(rerun_report['page'], 'cached-count') == (
        f'{cached} of {len(components)} components from the cache')


def test_rerun_says_whose_verdict_and_push_it_shows(first_report, rerun_report):
    assert rerun_report['problems'] == []
    page = rerun_report['page']
    header = text(re.search(r'<table id="summary">(.*?)</table>', page, re.S).group(1))
    first_dir = first_report['summary']['pushed_model_dir']
    # Nothing changed, so nothing ran: the page shows the first run's verdict and push, and
    # says that they are an earlier run's.
    assert rerun_report['summary']['components']['Evaluator']['cached']
    assert value_by_id(page, 'blessed') == 'yes'
    assert value_by_id(page, 'pushed-model-dir') == first_dir
    assert "an earlier run's verdict" in header and "an earlier run's push" in header
    assert float(value_by_id(page, 'test-rmse')) == pytest.approx(
        first_report['summary']['test_rmse'], abs=5e-5)


def test_predictions_of_a_large_test_split_are_a_hashed_sample(completed_run, tmp_path,
                                                              monkeypatch):
    # More test examples than the limit: one in `every`, spread over the whole split, whose
    # RMSE is close to TFMA's over all of them.
    summary = read_summary(completed_run)
    test_examples = summary['data']['split_counts']['test']
    monkeypatch.setattr(report, 'PREDICTION_SAMPLE_LIMIT', test_examples // 4 + 1)
    built = snapshot(completed_run, str(tmp_path / 'report'), reuse=False)
    caption = text(section(built['page'], 'evaluation'))
    sampled = int(re.search(r'([\d,]+) test examples, one in 4 by a hash of the example',
                            caption).group(1).replace(',', ''))
    assert 0.15 * test_examples < sampled < 0.35 * test_examples
    shown = float(value_by_id(built['page'], 'prediction-rmse'))
    assert shown == pytest.approx(summary['test_rmse'], abs=0.1)
    # Leave the run's report as the runner wrote it, for the tests that reuse its parts.
    monkeypatch.undo()
    report.build_report(completed_run)


# A report of the same artifacts again: parts are reused, not recomputed.

def test_parts_of_unchanged_artifacts_are_reused_and_equal_a_rebuilt_page(rerun_report,
                                                                          completed_run):
    # The runner has already written the report of the rerun: every part is up to date.
    reused = report.build_report(completed_run)
    with open(reused.path, encoding='utf-8') as f:
        reused_page = f.read()
    for part in ('Data: Ratings', 'Data: Long tail', 'Training',
                 'Evaluation: Predicted vs actual rating', 'Evaluation: RMSE per slice'):
        assert part in reused.reused
    assert 'Taken from the previous report' in text(re.search(
        r'<footer>.*</footer>', reused_page, re.S).group(0))

    rebuilt = report.build_report(completed_run, reuse=False)
    with open(rebuilt.path, encoding='utf-8') as f:
        rebuilt_page = f.read()
    assert rebuilt.reused == [] and rebuilt.problems == []
    assert 'Taken from the previous report' not in rebuilt_page
    for anchor in ('data', 'training', 'evaluation', 'model', 'timings'):
        assert section(reused_page, anchor) == section(rebuilt_page, anchor), anchor
    assert set(parse(rebuilt_page).images) == FIGURES
    for name in FIGURES:
        assert os.path.isfile(os.path.join(os.path.dirname(rebuilt.path), name)), name


def test_a_figure_changed_since_the_last_report_is_drawn_again(rerun_report, completed_run):
    report.build_report(completed_run)
    figure = os.path.join(completed_run, report.REPORT_DIR, 'training.png')
    with open(figure, 'wb') as f:
        f.write(PNG_SIGNATURE)  # a truncated file, as a crash or an editor could leave
    result = report.build_report(completed_run)
    assert 'Training' not in result.reused
    assert 'Data: Ratings' in result.reused
    with open(figure, 'rb') as f:
        assert len(f.read()) > 5000


# A run stopped by the anomaly gate.

def test_stopped_run_gets_a_report_that_lists_the_anomaly(anomalous_report):
    page = anomalous_report['page']
    assert anomalous_report['problems'] == []
    assert 'stopped: AnomalyGate failed' in text(page)
    assert FAILURE_MESSAGE in text(page)
    anomalies = text(re.search(r'<ul class="anomalies" id="anomalies">(.*?)</ul>', page,
                               re.S).group(1))
    for split in features.SPLITS:
        assert (f"{split}: feature 'raw_user_age': Out-of-range values. Unexpectedly large "
                f'value: {ANOMALOUS_AGE}.') in anomalies


def test_stopped_run_says_why_each_later_part_is_missing(anomalous_report):
    page = anomalous_report['page']
    assert ('Trainer did not run: the run stopped when AnomalyGate failed'
            in text(section(page, 'training')))
    assert ('Evaluator did not run: the run stopped when AnomalyGate failed'
            in text(section(page, 'evaluation')))
    assert 'Nothing was pushed. Pusher did not run' in text(section(page, 'model'))
    assert value_by_id(page, 'test-rmse') == 'n/a'
    # What did run is still shown: the data section has its figures.
    assert {'ratings.png', 'long_tail.png', 'timings.png'} <= set(parse(page).images)
    assert 'FAILED' in text(section(page, 'timings'))


def test_summary_left_by_an_earlier_run_is_not_reported_as_this_one(anomalous_run, tmp_path):
    # The runner writes run_summary.json only for a complete run; the one in the dir then
    # belongs to an earlier run.
    summary_path = OutputDir(anomalous_run).summary
    with open(summary_path, 'w') as f:
        json.dump({'test_rmse': 0.1234, 'eval_rmse': 0.1234, 'blessed': True,
                   'pushed_model_dir': '/elsewhere/1', 'components': {},
                   'data': {'split_counts': {}}, 'wall_seconds': 1.0}, f)
    os.utime(summary_path, (0, 0))
    try:
        page = snapshot(anomalous_run, str(tmp_path / 'report'))['page']
    finally:
        os.remove(summary_path)
    assert value_by_id(page, 'test-rmse') == 'n/a'
    assert value_by_id(page, 'pushed-model-dir') == 'nothing pushed'
    assert 'run_summary.json is from an earlier run' in page


# The command line.

def test_cli_rewrites_the_report_of_an_existing_run(anomalous_run, capsys):
    index = os.path.join(anomalous_run, report.REPORT_DIR, report.INDEX_FILE)
    if os.path.exists(index):
        os.remove(index)
    assert report_cli.main(['--output-dir', anomalous_run]) == 0
    assert os.path.getsize(index) > 0
    assert f'Report written to {index}' in capsys.readouterr().out


def test_cli_without_a_run_names_the_missing_file(tmp_path, capsys):
    assert report_cli.main(['--output-dir', str(tmp_path)]) == report_cli.EXIT_NO_RUN
    error = capsys.readouterr().err
    assert os.path.join(str(tmp_path), report.METADATA_FILE) in error
    assert 'local_runner.py' in error
