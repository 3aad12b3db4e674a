"""The page rendered from hand-built report contexts: ids, escaping, missing and failed parts."""
import dataclasses

from reporting import render
from tests.reporting import contexts
from tests.reporting.page import Page, text

SECTIONS = ['data', 'training', 'evaluation', 'model', 'timings']


def render_page(context) -> Page:
    return Page(render.page(context))


def test_complete_page_shows_each_value_under_its_id():
    page = render_page(contexts.complete())
    assert page.value('test-rmse') == '0.9876'
    assert page.value('eval-rmse') == '1.0101'
    assert page.value('blessed') == 'yes'
    assert page.value('pushed-model-dir') == '/runs/serving_model/1700000000'
    assert page.value('pushed-version') == '1700000000'
    assert [page.value(f'count-{split}') for split in ('train', 'eval', 'test')] == [
        '720', '80', '200']
    assert page.value('best-epoch') == '3'
    assert page.value('best-eval-rmse') == '1.0100'
    assert (page.value('refit-epochs'), page.value('refit-examples')) == ('3', '800')
    assert page.value('blend-weights') == ("hybrid members' mean \u00d7 0.700, biased_mf "
                                           "members' mean \u00d7 0.350, plus -0.200")
    assert page.value('unblended-eval-rmse') == '1.0202'
    assert page.rows('training-table') == [
        ['4', '3', '1.0100', 'epoch 3: early stopping (patience 1) restored its weights']]
    assert page.value('global-mean-rmse') == '1.1002'
    assert page.value('bias-baseline-rmse') == '1.0234'
    assert page.value('data-format') == '10m' and page.value('data-split') == 'time'
    assert page.value('prediction-rmse') == '0.9876'
    assert page.value('anomalies') == (
        'none Every split (train, eval, test) matches the curated schema '
        '(components/schemas/with_users_whole_stars.pbtxt).')
    assert page.rows('timings-table') == [['MovieLensExampleGen', 'done', '2.0'],
                                          ['StatisticsGen', 'cached', '0.1'],
                                          ['Trainer', 'done', '27.8']]
    assert 'The whole run took 76.1 s.' in page.section('timings')
    assert not page.has_id('cached-count') and not page.has_id('reused-parts')
    assert page.by_class('missing') == [] and page.by_class('section-error') == []


def test_page_has_the_sections_its_navigation_links_to():
    page = render_page(contexts.complete())
    assert [section.get('id') for section in page.root.iter('section')] == SECTIONS
    assert [link.get('href') for link in page.root.find('.//nav').iter('a')] == [
        f'#{anchor}' for anchor in SECTIONS]


def test_page_loads_only_its_own_figures_and_runs_no_script():
    context = contexts.complete()
    page = render_page(context)
    assert list(page.root.iter('script')) == [] and list(page.root.iter('link')) == []
    figures = [image.file for image in context.images.values()]
    assert sorted(page.images()) == sorted(figures)
    for target in page.fetched():
        assert target.startswith('#') or target in figures, target
    for image in page.root.iter('img'):
        drawn = context.images[image.get('src')[:-len('.png')]]
        assert (int(image.get('width')), int(image.get('height'))) == (drawn.width, drawn.height)
        assert image.get('alt')


def test_values_from_the_run_are_text_never_markup():
    message = '<script>alert("x")</script> & <img src=http://example.com/x.png>'
    page = render_page(contexts.stopped(failure_message=message))
    assert list(page.root.iter('script')) == []
    assert all('example.com' not in target for target in page.fetched())
    assert text(page.root.find('.//pre')) == ' '.join(message.split())
    # The failed part's error, which quotes a value, is text too.
    assert 'ValueError: <unreadable> statistics' in page.section('data')


def test_stopped_run_says_why_each_part_is_missing_and_shows_the_failed_one():
    page = render_page(contexts.stopped())
    assert 'stopped: AnomalyGate failed' in text(page.root.find_class('status')[0])
    assert page.value('test-rmse') == 'n/a'
    assert page.value('pushed-model-dir') == 'nothing pushed'
    why = 'Trainer did not run: the run stopped when AnomalyGate failed.'
    for anchor, missing in (('training', 1), ('evaluation', 4), ('model', 1)):
        section = page.by_id(anchor)
        assert [text(p) for p in section.find_class('missing')] == [
            f'Nothing was pushed. {why}' if anchor == 'model' else why] * missing, anchor
    assert [text(li) for li in page.by_id('anomalies').iter('li')] == [
        "train: feature 'raw_user_age': Out-of-range values. Unexpectedly large value: 150."]
    errors = page.by_class('section-error')
    assert text(errors[0]) == ('1 part(s) of this report could not be built; they show their '
                               'error below.')
    assert text(errors[1]).startswith('This part could not be built: ValueError: <unreadable>')
    assert errors[1].find('pre').text == 'Traceback ...'


def test_cached_run_says_whose_verdict_and_push_the_page_shows():
    context = contexts.complete()
    context = dataclasses.replace(context, header=dataclasses.replace(
        context.header, cached=9, components=10, verdict_cached=True, push_cached=True))
    page = render_page(context)
    assert page.value('cached-count') == '9 of 10 components from the cache'
    summary = dict(page.rows('summary'))
    assert summary['Blessed'] == ("yes (an earlier run's verdict: this run took Evaluator's "
                                  'outputs from the cache, its inputs being unchanged)')
    assert summary['Pushed to'].startswith("/runs/serving_model/1700000000 (an earlier run's "
                                           'push')


def test_footer_names_the_parts_taken_from_the_previous_report():
    context = contexts.complete()
    context = dataclasses.replace(context, footer=dataclasses.replace(
        context.footer, reused=('Data: Ratings', 'Training')))
    page = render_page(context)
    assert page.value('reused-parts') == ('Taken from the previous report, drawn from the same '
                                          'artifacts: Data: Ratings, Training')


def test_blessing_lists_the_gates_failed_checks():
    context = contexts.complete()
    check = 'test RMSE 1.6000 is above the bound 1.5 (--rmse-threshold)'
    context = dataclasses.replace(context, blessing=dataclasses.replace(
        context.blessing, blessed=False, reason=f'not blessed: {check}', failed_checks=(check,)))
    blessing = page_part(render_page(context), 'Blessing')
    assert blessing[0] == 'not blessed Failed:'
    assert blessing[1] == check
    assert 'test RMSE at most 1.5 (--rmse-threshold)' in blessing


def test_a_sampled_prediction_set_says_how_it_was_sampled():
    context = contexts.complete()
    context = dataclasses.replace(context, predictions=dataclasses.replace(
        context.predictions, examples=5012, every=4))
    caption = render_page(context).by_id('prediction-rmse').getparent()
    assert "signature on 5,012 test examples, one in 4 by a hash of the example (raw" in text(
        caption)


def page_part(page: Page, heading: str):
    """The texts of the paragraphs and list items under an h3, up to the next heading."""
    texts, inside = [], False
    for element in page.root.iter('h2', 'h3', 'p', 'li'):
        if element.tag in ('h2', 'h3'):
            inside = text(element) == heading
        elif inside:
            texts.append(text(element))
    return texts
