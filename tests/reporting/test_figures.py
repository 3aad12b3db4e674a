"""The figures drawn from hand-built report contexts: one PNG per part, of the size the page
gives it."""
import dataclasses
import struct

import numpy as np
import pytest
from PIL import Image as PILImage

from reporting import figures
from reporting.context import TimingRow, Timings
from tests.reporting import contexts

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_size(path):
    """(width, height) from a PNG's header chunk."""
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE, f'{path} is not a PNG'
    return struct.unpack('>II', head[16:24])


def test_every_part_with_a_figure_has_a_drawer():
    assert set(figures.DRAWERS) == set(contexts.FIGURES)


@pytest.mark.parametrize('name', contexts.FIGURES)
def test_each_figure_is_a_png_of_the_size_the_page_gives_it(name, tmp_path):
    image = figures.draw(name, contexts.PARTS[name], str(tmp_path))
    assert image.file == f'{name}.png'
    path = tmp_path / image.file
    assert png_size(path) == (image.width, image.height)
    # Drawn for a page 1180 px wide.
    assert 400 < image.width <= 1140 and 150 < image.height < 1000
    assert path.stat().st_size > 5000


def colour_share(path, colour: str) -> float:
    """The share of a PNG's pixels that have exactly this colour ('#rrggbb')."""
    pixels = np.asarray(PILImage.open(path).convert('RGB')).reshape(-1, 3)
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return float(np.all(pixels == rgb, axis=1).mean())


def test_timings_mark_a_failed_component_red_and_cached_ones_grey(tmp_path):
    rows = (TimingRow('MovieLensExampleGen', 'done', 5.0, False, False),
            TimingRow('StatisticsGen', 'cached', 5.0, True, False))
    figures.draw('timings', Timings(rows, None), str(tmp_path))
    assert colour_share(tmp_path / 'timings.png', figures.COLOURS['cached']) > 0.01
    assert colour_share(tmp_path / 'timings.png', figures.COLOURS['bad']) == 0
    failed = TimingRow('AnomalyGate', 'FAILED', 5.0, False, True)
    figures.draw('timings', Timings(rows + (failed,), 'AnomalyGate'), str(tmp_path))
    assert colour_share(tmp_path / 'timings.png', figures.COLOURS['bad']) > 0.01


def test_rmse_figure_grows_with_its_bars(tmp_path):
    rmse = contexts.PARTS['rmse']
    three = figures.draw('rmse', rmse, str(tmp_path))
    one = figures.draw('rmse', dataclasses.replace(rmse, baseline=None, global_mean_rmse=None,
                                                   train_mean=None), str(tmp_path))
    assert one.width == three.width and one.height < three.height
