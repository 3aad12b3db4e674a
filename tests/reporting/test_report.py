"""The run report of real pipeline runs: the shared complete run, its rerun from the cache (in
a copy), and a run that the AnomalyGate stopped.

The shared runs are read-only: a test that reruns, rebuilds or edits works on a copy_run.
"""
import json
import math
import os
import struct

import lxml.html
import numpy as np
import pytest
import tensorflow as tf

import local_runner
import report as report_cli
from models import features
from models.artifacts import HISTORY_FILE
from models.ranking import signatures
from reporting import collect, predictions, report
from reporting.context import Failed, Missing
from reporting.run import Run
from runs import record, results
from runs.output_dir import OutputDir
from tests.conftest import LENIENT_RMSE, copy_run
from tests.reporting.conftest import ANOMALOUS_AGE
from tests.reporting.page import Page, text

pytestmark = pytest.mark.e2e

FIGURES = {'ratings.png', 'long_tail.png', 'training.png', 'rmse.png', 'slices.png',
           'predictions.png', 'timings.png'}
# The parts drawn from artifacts that a cached rerun leaves unchanged.
REUSED_ON_RERUN = {'Data: Ratings', 'Data: Long tail', 'Training',
                   'Evaluation: Test RMSE and baselines', 'Evaluation: RMSE per slice',
                   'Evaluation: Predicted vs actual rating'}
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def read_page(output_dir) -> Page:
    return Page.read(OutputDir(output_dir).report_page)


def read_summary(output_dir) -> dict:
    with open(OutputDir(output_dir).summary) as f:
        return json.load(f)


# A complete run: the page the runner wrote, and the context collected from the run.

@pytest.fixture(scope='module')
def page(completed_run) -> Page:
    return read_page(completed_run)


@pytest.fixture(scope='module')
def summary(completed_run) -> dict:
    return read_summary(completed_run)


@pytest.fixture(scope='module')
def run(completed_run) -> Run:
    return Run.open(completed_run)


@pytest.fixture(scope='module')
def context(run) -> dict:
    """Each part's collected data, by part name."""
    return {part.name: part.collect(run) for part in collect.PARTS}


def test_every_figure_on_the_page_is_a_png_written_next_to_it(completed_run, page):
    assert set(page.images()) == FIGURES
    for image in page.root.iter('img'):
        with open(os.path.join(OutputDir(completed_run).report, image.get('src')), 'rb') as f:
            content = f.read()
        assert content[:8] == PNG_SIGNATURE, image.get('src')
        assert struct.unpack('>II', content[16:24]) == (int(image.get('width')),
                                                        int(image.get('height')))
        assert len(content) > 5000, image.get('src')


def test_page_needs_no_network_and_no_javascript(page):
    assert list(page.root.iter('script')) == [] and list(page.root.iter('link')) == []
    assert page.fetched(), 'the parser found no links or images at all'
    for target in page.fetched():
        # Only the page's own figures and in-page anchors.
        assert target.startswith('#') or target in FIGURES, target
    assert '://' not in page.html


def test_numbers_on_the_page_are_those_of_run_summary(page, summary):
    assert float(page.value('test-rmse')) == pytest.approx(summary['test_rmse'], abs=5e-5)
    assert float(page.value('eval-rmse')) == pytest.approx(summary['eval_rmse'], abs=5e-5)
    for split, count in summary['data']['split_counts'].items():
        assert int(page.value(f'count-{split}').replace(',', '')) == count
    assert summary['blessed'] is True and page.value('blessed') == 'yes'
    assert page.value('pushed-model-dir') == summary['pushed_model_dir']
    assert page.value('pushed-version') == os.path.basename(summary['pushed_model_dir'])
    assert 'run summary from run_summary.json;' in text(page.root.find('.//footer'))
    assert not page.has_id('cached-count')
    assert "an earlier run's" not in page.html


def test_every_part_of_a_complete_run_is_built(run, context, page):
    assert run.problems == []
    assert {name: data for name, data in context.items()
            if isinstance(data, (Missing, Failed))} == {}
    assert page.by_class('missing') == [] and page.by_class('section-error') == []


def label_of(examples_artifact, split: str) -> np.ndarray:
    files = results.split_files(examples_artifact, split)
    spec = {features.LABEL: tf.io.FixedLenFeature([], tf.float32)}
    batches = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(10_000)
    return np.concatenate([tf.io.parse_example(batch, spec)[features.LABEL].numpy()
                           for batch in batches])


def test_global_mean_baseline_is_the_rmse_of_the_train_mean_on_test(run, context, page,
                                                                    summary):
    examples = run.output(record.EXAMPLE_GEN, 'examples')
    train_mean = label_of(examples, features.TRAIN_SPLIT).mean()
    expected = math.sqrt(np.mean((label_of(examples, features.TEST_SPLIT) - train_mean) ** 2))
    comparison = context['rmse']
    assert comparison.train_mean == pytest.approx(train_mean, abs=1e-4)
    assert comparison.global_mean_rmse == pytest.approx(expected, abs=2e-4)
    assert page.value('global-mean-rmse') == f'{comparison.global_mean_rmse:.4f}'
    # A baseline only means something if the model beats it.
    assert summary['test_rmse'] < comparison.global_mean_rmse
    # The first run had no blessed model to compare with.
    assert comparison.baseline is None and comparison.upper_bound == LENIENT_RMSE


def test_predicted_vs_actual_scores_what_tfma_scored(context, page, summary):
    # Every test example goes through the model (far fewer than the sample limit), so the
    # RMSE of the plotted predictions is the Evaluator's own.
    sample = context['predictions']
    assert sample.every == 1
    assert sample.examples == summary['data']['split_counts'][features.TEST_SPLIT]
    assert sum(star.examples for star in sample.stars) == sample.examples
    assert sample.rmse == pytest.approx(summary['test_rmse'], abs=1e-3)
    assert page.value('prediction-rmse') == f'{sample.rmse:.4f}'


def test_predictions_of_a_large_test_split_are_a_hashed_sample(run, summary):
    # More test examples than the limit: one in 4, spread over the whole split, the same
    # ones each time, whose RMSE is close to TFMA's over all of them.
    test_examples = summary['data']['split_counts'][features.TEST_SPLIT]

    def quarter():
        return predictions.sample(
            run.output(record.TRAINER, 'model').uri,
            results.split_files(run.output(record.EXAMPLE_GEN, 'examples'),
                                features.TEST_SPLIT),
            test_examples, limit=test_examples // 4 + 1)

    sample = quarter()
    assert sample.every == 4
    assert 0.15 * test_examples < sample.examples < 0.35 * test_examples
    assert quarter() == sample
    # About 150 of 600 examples here: their RMSE strays from the split's by about 0.08 (one
    # standard deviation, for errors of this size); a full suite once met 1.176 against the
    # split's 1.071. Three of them.
    assert sample.rmse == pytest.approx(summary['test_rmse'], abs=0.25)


def test_training_marks_the_epochs_whose_weights_were_kept(run, context, page):
    model_run = run.output(record.TRAINER, 'model_run')
    with open(os.path.join(model_run.uri, HISTORY_FILE)) as f:
        history = json.load(f)
    val_rmse = history['epochs']['val_rmse']
    best = int(np.argmin(val_rmse)) + 1
    training = context['training']
    assert training.best_epoch == best
    assert training.best_eval_rmse == pytest.approx(val_rmse[best - 1])
    assert training.epochs_run == len(history['epochs']['rmse'])
    # The default model keeps the mean of the weights after the epochs around the best,
    # unless that did worse on eval than the best epoch's weights.
    if 'averaged_epochs' in history:
        first, last = history['averaged_epochs']
        assert (first, last) == (max(1, best - 1), min(training.epochs_run, best + 1))
        assert training.kept == (f'the mean of the weights after epochs {first} to {last}, '
                                 'around the best')
        assert history['eval_rmse'] <= val_rmse[best - 1] + 1e-4
    else:
        assert training.kept.startswith(f'epoch {best}: early stopping')
        assert history['eval_rmse'] == pytest.approx(val_rmse[best - 1], abs=2e-3)
    assert page.value('best-epoch') == str(best)
    assert page.value('best-eval-rmse') == f'{val_rmse[best - 1]:.4f}'
    assert page.rows('training-table') == [
        [str(training.epochs_run), str(best), f'{val_rmse[best - 1]:.4f}', training.kept]]
    assert training.eval_rmse == pytest.approx(history['eval_rmse'])
    seconds = history['epoch_seconds']
    assert len(seconds) == training.epochs_run
    assert page.value('seconds-per-epoch') == f'{np.median(seconds[1:]):.1f}'
    assert page.value('first-epoch-seconds') == f'{seconds[0]:.1f}'
    assert f"batch_size {history['batch_size']}," in training.settings
    phases = history['phase_seconds']
    assert list(phases) == ['read', 'tables', 'fit', 'evaluate', 'refit', 'export']
    assert page.value('trainer-phases') == ', '.join(
        f'{phase} {seconds:.1f} s' for phase, seconds in phases.items())


def test_the_settings_name_the_batch_the_trainer_used():
    """larger_batches may have chosen a larger batch than batch_size, by the split's size."""
    configured = {'architecture': 'hybrid', 'batch_size': 4096, 'larger_batches': [[2, 8]],
                  'learning_rate': 0.006}
    used = results.TrainingHistory({'rmse': [1.0]}, 1.0, batch_size=8192)
    assert collect.training_settings(configured, used) == (
        'architecture hybrid, batch_size 8192, learning_rate 0.006')
    # A history from before the Trainer recorded its batch: the configured one.
    older = results.TrainingHistory({'rmse': [1.0]}, 1.0)
    assert 'batch_size 4096' in collect.training_settings(configured, older)


def spec_text(key: str, spec: tf.TensorSpec) -> str:
    shape = ', '.join('-1' if size is None else str(size) for size in spec.shape.as_list())
    return f'{key}: {spec.dtype.name}[{shape}]'


def test_pushed_model_lists_its_signatures_and_a_rank_call(context, page, summary):
    model = context['pushed_model']
    assert model.path == summary['pushed_model_dir']
    listed = {signature.name: signature for signature in model.signatures}
    assert set(listed) == set(signatures.CONTRACT)
    for name, (inputs, outputs) in signatures.CONTRACT.items():
        assert listed[name].inputs == tuple(spec_text(key, inputs[key])
                                            for key in sorted(inputs)), name
        if outputs is not None:  # transform_features outputs whatever Transform makes
            assert listed[name].outputs == tuple(spec_text(key, outputs[key])
                                                 for key in sorted(outputs)), name
    serving_dir = os.path.dirname(summary['pushed_model_dir'])
    assert model.rank_command.startswith(f'python rank.py --model-dir {serving_dir} --user-id ')
    assert model.rank_command.endswith(' --top-k 10')
    assert model.rank_command in page.section('model')
    assert '__saved_model_init_op' not in page.html


def test_timings_list_every_component_of_the_run(page, summary):
    rows = page.rows('timings-table')
    components = summary['components']
    assert [name for name, _, _ in rows] == list(components)
    for name, state, seconds in rows:
        assert state == record.DONE, rows
        # Shown to 0.1 s.
        assert float(seconds) == pytest.approx(components[name]['seconds'], abs=0.051), rows


# The same run again, in a copy: every component is taken from the cache but the resolver (a
# query, run every time) and the Pusher (the copy's serving dir is new to it).

@pytest.fixture(scope='module')
def rerun(completed_run, tmp_path_factory) -> dict:
    """The rerun's dir, and its page and summary as the runner wrote them."""
    output_dir = copy_run(completed_run, str(tmp_path_factory.mktemp('rerun') / 'run'))
    # The ExampleGen reads the first run's files, unchanged: its cache key is the same.
    example_gen = Run.open(completed_run).executions[record.EXAMPLE_GEN]
    data_path = record.custom_config(example_gen)['data_path']
    assert local_runner.main(['--output-dir', output_dir, '--data-dir', data_path,
                              '--rmse-threshold', str(LENIENT_RMSE)]) == 0
    return {'dir': output_dir, 'page': read_page(output_dir), 'summary': read_summary(output_dir)}


def test_rerun_marks_the_components_taken_from_the_cache(rerun):
    components = rerun['summary']['components']
    assert {name for name, timing in components.items() if not timing['cached']} == {
        'latest_blessed_model_resolver', record.PUSHER}
    states = {name: state for name, state, _ in rerun['page'].rows('timings-table')}
    assert set(states) == set(components)
    assert states[record.TRAINER] == record.CACHED
    for name, timing in components.items():
        assert (states[name] == record.CACHED) == timing['cached'], name
    cached = sum(timing['cached'] for timing in components.values())
    assert rerun['page'].value('cached-count') == (
        f'{cached} of {len(components)} components from the cache')


def test_rerun_says_whose_verdict_and_push_it_shows(rerun, summary):
    page, components = rerun['page'], rerun['summary']['components']
    header = dict(page.rows('summary'))
    # The data and the model are unchanged, so the Evaluator did not run: the page shows the
    # first run's verdict, and says so.
    assert components[record.EVALUATOR]['cached']
    assert page.value('blessed') == 'yes'
    assert "(an earlier run's verdict: this run took Evaluator's outputs" in header['Blessed']
    assert float(page.value('test-rmse')) == pytest.approx(summary['test_rmse'], abs=5e-5)
    # The copy's serving dir is new to the Pusher, so it ran and pushed there: this run's
    # push, with no note. (A note for a push from the cache: tests/reporting/test_render.py.)
    assert not components[record.PUSHER]['cached']
    pushed = page.value('pushed-model-dir')
    assert os.path.dirname(pushed) == OutputDir(rerun['dir']).serving_model
    assert pushed == rerun['summary']['pushed_model_dir']
    assert "earlier run's push" not in header['Pushed to']


def html_of(page: Page, element_id: str) -> bytes:
    return lxml.html.tostring(page.by_id(element_id))


def test_rerun_reuses_the_parts_of_unchanged_artifacts_as_they_were_drawn(rerun, page,
                                                                         completed_run):
    reused = rerun['page'].value('reused-parts')
    assert set(reused.split(': ', 1)[1].split(', ')) >= REUSED_ON_RERUN, reused
    # The first run's report drew every part anew, from the same artifacts.
    for anchor in ('data', 'training', 'evaluation'):
        assert html_of(rerun['page'], anchor) == html_of(page, anchor), anchor
    assert set(rerun['page'].images()) == FIGURES
    for name in FIGURES - {'timings.png'}:
        with open(os.path.join(OutputDir(rerun['dir']).report, name), 'rb') as reused_file, \
                open(os.path.join(OutputDir(completed_run).report, name), 'rb') as drawn:
            assert reused_file.read() == drawn.read(), name


def test_a_figure_changed_since_the_last_report_is_drawn_again(completed_run, tmp_path):
    output_dir = copy_run(completed_run, str(tmp_path / 'run'))
    figure = os.path.join(OutputDir(output_dir).report, 'training.png')
    with open(figure, 'wb') as f:
        f.write(PNG_SIGNATURE)  # a truncated file, as a crash or an editor could leave
    result = report.build_report(output_dir)
    assert result.problems == []
    assert 'Training' not in result.reused
    assert REUSED_ON_RERUN - {'Training'} <= set(result.reused)
    with open(figure, 'rb') as f:
        assert len(f.read()) > 5000


# A run that the AnomalyGate stopped.

FAILURE_MESSAGE = ('The examples do not match the schema '
                   '(components/schemas/with_users_whole_stars.pbtxt)')


@pytest.fixture(scope='module')
def stopped_page(stopped_run) -> Page:
    """The page the runner wrote when the run failed."""
    return read_page(stopped_run)


def test_stopped_run_gets_a_report_that_lists_the_anomaly(stopped_page):
    page = stopped_page
    assert text(page.root.find_class('status')[0]).endswith('stopped: AnomalyGate failed')
    assert text(page.root.find('.//pre')).startswith(FAILURE_MESSAGE)
    assert page.by_class('section-error') == []
    anomalies = [text(item) for item in page.by_id('anomalies').iter('li')]
    for split in features.SPLITS:
        assert (f"{split}: feature 'raw_user_age': Out-of-range values. Unexpectedly large "
                f'value: {ANOMALOUS_AGE}.') in anomalies


def test_stopped_run_says_why_each_later_part_is_missing(stopped_page):
    page = stopped_page

    def missing(anchor):
        return [text(p) for p in page.by_id(anchor).find_class('missing')]

    stopped = 'did not run: the run stopped when AnomalyGate failed'
    assert missing('training') == [f'Trainer {stopped} ({FAILURE_MESSAGE}; nothing was '
                                   'trained or pushed.).']
    # Test RMSE, slices, predictions (from the trained model) and blessing.
    assert [why.split(' (')[0] for why in missing('evaluation')] == [
        f'{component} {stopped}' for component in ('Evaluator', 'Evaluator', 'Trainer',
                                                   'Evaluator')]
    assert missing('model')[0].startswith(f'Nothing was pushed. Pusher {stopped}')
    assert page.value('test-rmse') == 'n/a'
    # What did run is still shown.
    assert set(page.images()) == {'ratings.png', 'long_tail.png', 'timings.png'}
    assert ['AnomalyGate', record.FAILED] in [row[:2] for row in page.rows('timings-table')]
    assert 'The run stopped when AnomalyGate failed' in page.section('timings')


def test_a_summary_left_by_an_earlier_run_is_not_reported_as_this_one(stopped_run, tmp_path):
    # The runner writes run_summary.json only for a complete run; one in the dir of a failed
    # run is an earlier run's, and the report does not read it.
    output_dir = copy_run(stopped_run, str(tmp_path / 'run'))
    with open(OutputDir(output_dir).summary, 'w') as f:
        json.dump({'test_rmse': 0.1234, 'eval_rmse': 0.1234, 'blessed': True,
                   'pushed_model_dir': '/elsewhere/1', 'components': {},
                   'data': {'split_counts': {}}, 'wall_seconds': 1.0}, f)
    result = report.build_report(output_dir)
    assert result.problems == []
    page = read_page(output_dir)
    assert page.value('test-rmse') == 'n/a'
    assert page.value('pushed-model-dir') == 'nothing pushed'
    assert 'run summary from MLMD' in text(page.root.find('.//footer'))


# The command line, on a copy of the stopped run: the cheapest report to draw again.

def test_cli_rewrites_the_report_and_rebuild_draws_every_part(stopped_run, tmp_path, capsys):
    output_dir = copy_run(stopped_run, str(tmp_path / 'run'))
    index = OutputDir(output_dir).report_page
    os.remove(index)
    assert report_cli.main(['--output-dir', output_dir]) == 0
    assert f'Report written to {index}' in capsys.readouterr().out
    assert read_page(output_dir).value('reused-parts').endswith(
        'Data: Ratings, Data: Long tail, Timings')
    assert report_cli.main(['--output-dir', output_dir, '--rebuild']) == 0
    assert not read_page(output_dir).has_id('reused-parts')
