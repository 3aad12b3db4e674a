"""The run report in a real browser: headless Chromium renders the shared run's page from
file://, offline. The page is only read: the checks that need a changed page load a copy
from the test's own dir, with the figures still resolved next to the original.

Needs Debian's `chromium` package (/usr/bin/chromium); without it these tests are skipped,
and pytest's summary says so.
"""
import os
import pathlib
import subprocess

import lxml.html
import numpy as np
import pytest
from PIL import Image

from runs.output_dir import OutputDir
from tests.reporting.page import Page

CHROMIUM = '/usr/bin/chromium'
WINDOW = (1280, 2000)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f'{CHROMIUM} is missing: install Debian\'s chromium package '
                              '(apt-get install -y chromium) to test the report in a browser'),
]

# Appended to a copy of the page (never to the page itself, which has no script): records on
# <body> how many images there are and which did not load, once everything has loaded.
IMAGE_CHECK = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (image) {
    return !(image.complete && image.naturalWidth > 0);
  }).map(function (image) { return image.getAttribute('src'); });
  document.body.setAttribute('data-images', String(images.length));
  document.body.setAttribute('data-broken-images', broken.join(' '));
});
</script>"""


def chromium(page_path, profile_dir, *flags) -> subprocess.CompletedProcess:
    """Runs headless Chromium on a local page, with everything that could go online off."""
    command = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
               '--disable-background-networking', '--disable-component-update',
               '--no-first-run', '--hide-scrollbars', f'--user-data-dir={profile_dir}',
               *flags, pathlib.Path(page_path).as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f'{" ".join(command)} failed:\n{result.stderr[-3000:]}'
    return result


def image_status(page_path, tmp_path, page=None):
    """(number of images, srcs that did not load) of a page, or of `page` (its HTML) in place
    of it, as the browser saw them."""
    if page is None:
        with open(page_path, encoding='utf-8') as f:
            page = f.read()
    # A copy in tmp_path whose relative links still resolve next to the original page.
    base = f'<base href="{pathlib.Path(os.path.dirname(page_path)).as_uri()}/">'
    checked = tmp_path / 'image_check.html'
    checked.write_text(page.replace('<head>', '<head>' + base, 1)
                       .replace('</body>', IMAGE_CHECK + '</body>'), encoding='utf-8')
    dom = chromium(checked, tmp_path / 'profile-dom', '--dump-dom').stdout
    body = lxml.html.document_fromstring(dom).find('body')
    assert body.get('data-images') is not None, (
        'the image check did not run before Chromium dumped the DOM')
    return int(body.get('data-images')), body.get('data-broken-images').split()


@pytest.fixture(scope='module')
def report_page(completed_run) -> str:
    """The page the runner wrote for the shared run."""
    return OutputDir(completed_run).report_page


def test_page_renders_at_1280_px_without_console_errors(report_page, tmp_path):
    screenshot = tmp_path / 'shot.png'
    result = chromium(report_page, tmp_path / 'profile', f'--screenshot={screenshot}',
                      f'--window-size={WINDOW[0]},{WINDOW[1]}', '--enable-logging=stderr',
                      '--v=0')
    # The page has no script: any console message is a load or security error.
    console = [line for line in result.stderr.splitlines()
               if ':CONSOLE' in line or 'Uncaught' in line]
    assert console == []
    assert screenshot.exists()
    pixels = np.asarray(Image.open(screenshot).convert('RGB'))
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    # Text, tables and figures, not a blank or single-colour page.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
    background = np.all(pixels >= 250, axis=2) | np.all(pixels == pixels[0, 0], axis=2)
    assert 0.05 < 1 - background.mean() < 0.9


def test_every_image_loads_in_the_browser(report_page, tmp_path):
    expected = len(Page.read(report_page).images())
    images, broken = image_status(report_page, tmp_path)
    assert images == expected > 0
    assert broken == []


def test_image_check_catches_a_missing_image(report_page, tmp_path):
    # The check above must be able to fail: the same page with one figure that is not there.
    with open(report_page, encoding='utf-8') as f:
        page = f.read()
    assert 'src="training.png"' in page
    _, broken = image_status(report_page, tmp_path,
                             page.replace('src="training.png"', 'src="no-such-figure.png"'))
    assert broken == ['no-such-figure.png']
