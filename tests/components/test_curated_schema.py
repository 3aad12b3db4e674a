"""CuratedSchemaGen and the curated schemas: each release's examples are clean against its own
schema and not against the other family's, the schemas agree with the contract (rating
domain, user features, tags), and the component copies the schema the Examples' format
names."""
import glob
import os

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tfx.components.schema_gen import executor as schema_gen_executor
from tfx.types import standard_artifacts
from tfx_bsl.coders import example_coder

from components import curated_schema
from components.movielens import contract
from components.movielens.releases import RELEASES
from models import features
from tests.components import movielens_data as data
from tests.components import release_files as files


def schema_features(data_format):
    return {feature.name: feature for feature in curated_schema.load(data_format).feature}


@pytest.mark.parametrize('data_format', contract.FORMATS)
def test_rating_domain_is_the_release_scale(data_format):
    domain = schema_features(data_format)[features.USER_RATING].float_domain
    scale = contract.RATING_SCALES[data_format]
    assert (domain.min, domain.max) == (scale.min, scale.max)


@pytest.mark.parametrize('data_format', contract.FORMATS)
def test_user_features_are_required_exactly_where_the_release_has_a_users_file(data_format):
    schema = schema_features(data_format)
    has_users = RELEASES[data_format].users is not None
    assert has_users == (data_format in ('100k', '1m'))
    for name in features.USER_FEATURES:
        assert (name in schema) == has_users, name
        if has_users and name != features.RAW_USER_AGE:  # 1M has only the age bucket
            assert schema[name].presence.min_fraction == 1.0, name


@pytest.mark.parametrize('data_format', contract.FORMATS)
def test_movie_tags_are_optional_where_the_release_has_tags(data_format):
    schema = schema_features(data_format)
    assert (features.MOVIE_TAGS in schema) == (RELEASES[data_format].tags is not None)
    if features.MOVIE_TAGS in schema:
        tags = schema[features.MOVIE_TAGS]
        assert tags.presence.min_fraction == 0.0
        assert tags.value_count.max == features.MOVIE_TAGS_LIMIT
    assert set(features.RATING_FEATURES) <= set(schema)
    assert schema[features.MOVIE_GENRES].value_count.min == 1  # 'unknown' if none listed


def statistics(run: data.Run):
    """TFDV's statistics of every example the run wrote, as StatisticsGen computes them."""
    records = [record for split in features.SPLITS for record in tf.data.TFRecordDataset(
        glob.glob(os.path.join(run.artifact.uri, f'Split-{split}', '*.gz')),
        compression_type='GZIP').as_numpy_iterator()]
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
    return stats_impl.generate_statistics_in_memory(batch)


def anomalies(run: data.Run, data_format: str):
    found = tfdv.validate_statistics(statistics(run), curated_schema.load(data_format))
    return {name: info.short_description for name, info in found.anomaly_info.items()}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('releases')
    folders = {
        '100k': data.write_folder(str(root / '100k')),
        'csv': files.write_csv_release(str(root / 'csv')),
        'csv without tags': files.write_csv_release(str(root / 'csv-no-tags'), tags_csv=None),
        '10m': files.write_10m_release(str(root / '10m')),
    }
    return {name: data.run_executor(str(root / f'out-{index}'), folder)
            for index, (name, folder) in enumerate(folders.items())}


@pytest.mark.parametrize('release', ['100k', 'csv', 'csv without tags', '10m'])
def test_each_release_is_clean_against_its_own_schema(runs, release):
    run = runs[release]
    assert anomalies(run, run.artifact.get_string_custom_property('format')) == {}


def test_the_other_familys_schema_finds_the_user_features_and_the_half_stars(runs):
    # 100K examples carry user features that the no-users schema does not know.
    found = anomalies(runs['100k'], '10m')
    assert set(found) == {features.USER_GENDER, features.BUCKETIZED_USER_AGE,
                          features.RAW_USER_AGE, features.USER_OCCUPATION_TEXT,
                          features.USER_ZIP_CODE}
    # CSV examples lack the user features the with-users schema requires, and rate below 1.
    found = anomalies(runs['csv'], '100k')
    assert {features.USER_GENDER, features.USER_ZIP_CODE, features.USER_RATING,
            features.MOVIE_TAGS} <= set(found)


def run_component(tmp_path, data_format):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / 'examples')
    if data_format is not None:
        examples.set_string_custom_property(contract.FORMAT_PROPERTY, data_format)
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / 'schema')
    os.makedirs(schema.uri)
    executor = curated_schema.CuratedSchemaGen.EXECUTOR_SPEC.executor_class()
    executor.Do({'examples': [examples]}, {'schema': [schema]}, {'fingerprint': 'x'})
    return schema


@pytest.mark.parametrize('data_format', contract.FORMATS)
def test_the_component_copies_the_schema_of_the_examples_format(tmp_path, data_format):
    schema = run_component(tmp_path, data_format)
    with open(os.path.join(schema.uri, schema_gen_executor.DEFAULT_FILE_NAME)) as copied, \
            open(curated_schema.schema_path(data_format)) as curated:
        assert copied.read() == curated.read()
    assert schema.get_string_custom_property('curated_schema') == (
        'components/schemas/' + curated_schema.SCHEMA_FILES[data_format])


def test_examples_without_a_format_are_refused(tmp_path):
    with pytest.raises(ValueError, match="have format '', not one of 100k, 1m, 10m, csv"):
        run_component(tmp_path, None)


def test_the_fingerprint_follows_the_schema_files(tmp_path, monkeypatch):
    before = curated_schema.schemas_fingerprint()
    for name in set(curated_schema.SCHEMA_FILES.values()):
        with open(os.path.join(curated_schema.SCHEMA_DIR, name)) as source:
            (tmp_path / name).write_text(source.read())
    monkeypatch.setattr(curated_schema, 'SCHEMA_DIR', str(tmp_path))
    assert curated_schema.schemas_fingerprint() == before
    with open(tmp_path / 'no_users_half_stars.pbtxt', 'a') as schema:
        schema.write('\n')
    assert curated_schema.schemas_fingerprint() != before
