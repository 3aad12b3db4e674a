"""Reusing parts across reports: what parts.json keeps, and when a kept part is not reused."""
import json
import os
import typing

import pytest

from reporting import cache
from reporting.context import Image, ReportContext
from tests.reporting import contexts

PART_TYPES = {name: typing.get_args(hint)[0]
              for name, hint in typing.get_type_hints(ReportContext).items()
              if name in contexts.PARTS}
KEY = cache.PartCache.key('training', [[7, 1764626793000], {'epochs': 40}])


@pytest.mark.parametrize('name', sorted(contexts.PARTS))
def test_each_part_survives_the_round_trip_through_json(name):
    data = contexts.PARTS[name]
    stored = json.loads(json.dumps(cache.encode(data)))
    assert cache.decode(PART_TYPES[name], stored) == data


def test_an_integral_float_comes_back_a_float():
    # JSON has one number type; a float field must not come back an int.
    data = contexts.PARTS['timings']
    decoded = cache.decode(PART_TYPES['timings'], json.loads(json.dumps(cache.encode(data))))
    assert [type(row.seconds) for row in decoded.rows] == [float] * len(data.rows)


def test_key_depends_on_the_part_and_its_inputs():
    assert cache.PartCache.key('training', [[7, 1764626793000], {'epochs': 40}]) == KEY
    assert cache.PartCache.key('training', [[7, 1764626793001], {'epochs': 40}]) != KEY
    assert cache.PartCache.key('slices', [[7, 1764626793000], {'epochs': 40}]) != KEY


def kept_training(report_dir) -> Image:
    """A report dir whose parts.json keeps the training part, with its figure."""
    figure = os.path.join(report_dir, 'training.png')
    with open(figure, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n the training figure')
    image = Image('training.png', 1140, 360)
    parts = cache.PartCache(str(report_dir))
    parts.keep('training', KEY, contexts.PARTS['training'], image)
    parts.save()
    return image


def test_a_kept_part_is_reused_with_its_figure(tmp_path):
    image = kept_training(tmp_path)
    reused = cache.PartCache(str(tmp_path)).reuse('training', KEY, PART_TYPES['training'])
    assert reused == (contexts.PARTS['training'], image)


def test_a_part_drawn_from_other_artifacts_is_not_reused(tmp_path):
    kept_training(tmp_path)
    other = cache.PartCache.key('training', [[8, 1764626800000], {'epochs': 40}])
    assert cache.PartCache(str(tmp_path)).reuse('training', other, PART_TYPES['training']) \
        is None


@pytest.mark.parametrize('change', ['overwritten', 'deleted'])
def test_a_part_whose_figure_changed_is_not_reused(tmp_path, change):
    kept_training(tmp_path)
    figure = os.path.join(tmp_path, 'training.png')
    if change == 'deleted':
        os.remove(figure)
    else:
        with open(figure, 'wb') as f:
            f.write(b'\x89PNG\r\n\x1a\n')  # cut short, as a crash could leave it
    assert cache.PartCache(str(tmp_path)).reuse('training', KEY, PART_TYPES['training']) is None


def test_rebuild_reuses_nothing(tmp_path):
    kept_training(tmp_path)
    parts = cache.PartCache(str(tmp_path), reuse=False)
    assert parts.reuse('training', KEY, PART_TYPES['training']) is None


def test_parts_kept_by_other_code_are_not_reused(tmp_path, monkeypatch):
    kept_training(tmp_path)
    monkeypatch.setattr(cache, 'code_digest', lambda: 'the digest of edited code')
    assert cache.PartCache(str(tmp_path)).reuse('training', KEY, PART_TYPES['training']) is None


def test_only_the_parts_of_the_latest_report_are_kept(tmp_path):
    kept_training(tmp_path)
    # A report that did not reuse or keep the training part (now missing, say).
    cache.PartCache(str(tmp_path)).save()
    assert cache.PartCache(str(tmp_path)).reuse('training', KEY, PART_TYPES['training']) is None


def test_code_digest_covers_templates_and_readers(tmp_path, monkeypatch):
    for directory in ('reporting/templates', 'runs'):
        os.makedirs(tmp_path / directory)
    (tmp_path / 'reporting/templates/index.html.j2').write_text('<h1>{{ title }}</h1>')
    (tmp_path / 'runs/results.py').write_text('RMSE_KEY = "rmse"\n')
    monkeypatch.setattr(cache, '_PROJECT', str(tmp_path))
    digest = cache.code_digest()
    assert cache.code_digest() == digest
    (tmp_path / 'reporting/templates/index.html.j2').write_text('<h1>{{ title }}!</h1>')
    assert cache.code_digest() != digest
    digest = cache.code_digest()
    (tmp_path / 'runs/results.py').write_text('RMSE_KEY = "root_mean_squared_error"\n')
    assert cache.code_digest() != digest


def test_a_parts_file_cut_short_means_no_reuse(tmp_path):
    kept_training(tmp_path)
    path = os.path.join(tmp_path, cache.PARTS_FILE)
    with open(path) as f:
        content = f.read()
    with open(path, 'w') as f:
        f.write(content[:len(content) // 2])
    assert cache.PartCache(str(tmp_path)).reuse('training', KEY, PART_TYPES['training']) is None
