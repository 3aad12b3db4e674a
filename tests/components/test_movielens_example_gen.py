"""MovieLensExampleGen end to end: the executor through Beam on generated GroupLens data in
the 100K format, the 1M format and a zip, a predefined split, the TFDS source, TFX's cache
fingerprint, a real TFX pipeline run, and (with MOVIELENS_DIR) the real ml-100k's zip
layout; and that the output is what TFX's own ExampleGen writes, without its shuffle of the
examples.

The examples of the real ml-100k are checked in the real pipeline run of
tests/test_local_runner.py, which writes them anyway."""
import collections
import hashlib
import json
import os
import re
import zipfile
from typing import List

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local import local_dag_runner
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from ml_metadata.proto import metadata_store_pb2

from components.movielens import executor as executor_module
from components.movielens import grouplens
from components.movielens.component import MovieLensExampleGen
from components.movielens.errors import BadInputError
from datasets import synthetic
from components.movielens.executor import Executor
from models import features
from tests.components import movielens_data as data

# Most tests run the executor through Beam, on up to 5,000 ratings.
pytestmark = pytest.mark.slow

NUM_RATINGS = 5_000
# Three standard deviations of a split's share of NUM_RATINGS hashed ratings (train's: 0.6%),
# and of eval's share of u1.base (0.5%): a wrong bucket rule misses by more.
SHARE_TOLERANCE, U1_EVAL_SHARE_TOLERANCE = 0.02, 0.015
BUCKETS = (72, 8, 20)


def expected_split(user_id: str, movie_id: str, buckets=BUCKETS) -> str:
    """The documented split rule, written out independently of the component."""
    bucket = int(hashlib.sha256(f'{user_id}:{movie_id}'.encode()).hexdigest(), 16) % sum(buckets)
    bounds = np.cumsum(buckets)
    return features.SPLITS[int(np.searchsorted(bounds, bucket, side='right'))]


def read_lines(path: str, encoding: str = 'ascii'):
    with open(path, encoding=encoding) as stream:
        return stream.read().splitlines()


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    """A generated 100K-format folder, with u1.base and u1.test."""
    return synthetic.write_grouplens(str(tmp_path_factory.mktemp('generated')), NUM_RATINGS,
                                     seed=7, predefined_splits=True)


@pytest.fixture(scope='module')
def folder_run(generated, tmp_path_factory):
    return data.run_executor(str(tmp_path_factory.mktemp('folder_run')), generated)


@pytest.fixture(scope='module')
def zip_run(generated, tmp_path_factory):
    zip_path = data.zip_folder(generated, str(tmp_path_factory.mktemp('zip') / 'ml-100k.zip'))
    return data.run_executor(str(tmp_path_factory.mktemp('zip_run')), zip_path)


@pytest.fixture(scope='module')
def format_1m(generated, tmp_path_factory):
    # The 1M files inside a single sub-folder, as an unzipped ml-1m.zip leaves them.
    parent = tmp_path_factory.mktemp('format_1m')
    data.to_1m_format(generated, str(parent / 'ml-1m'), seed=3)
    return str(parent)


@pytest.fixture(scope='module')
def run_1m(format_1m, tmp_path_factory):
    # Small shards, so that several Beam work units each read a part of ratings.dat, and
    # small batches, so that each writes several full batches of a split and a partial one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grouplens, 'LINES_PER_SHARD', 1_000)
        patch.setattr(executor_module, '_BATCH_SIZE', 7)
        return data.run_executor(str(tmp_path_factory.mktemp('run_1m')), format_1m)


def test_every_rating_becomes_one_example_with_its_movie_and_user(generated, folder_run):
    ratings = {(user, movie): (int(rating), int(timestamp)) for user, movie, rating, timestamp
               in (line.split('\t') for line in read_lines(f'{generated}/u.data'))}
    movies = {fields[0]: fields for fields in
              (line.split('|') for line in read_lines(f'{generated}/u.item', 'latin-1'))}
    users = {fields[0]: fields for fields in
             (line.split('|') for line in read_lines(f'{generated}/u.user'))}
    examples = folder_run.all_examples()
    assert len(examples) == NUM_RATINGS
    assert folder_run.artifact.split_names == '["train", "eval", "test"]'
    assert folder_run.skipped_rows == 0
    seen = set()
    for example in examples:
        assert set(example) == set(features.RATING_FEATURES + features.USER_FEATURES)
        user_id, movie_id = example['user_id'][0], example['movie_id'][0]
        seen.add((user_id, movie_id))
        rating, timestamp = ratings[(user_id, movie_id)]
        assert example['user_rating'] == [rating] and example['timestamp'] == [timestamp]
        movie, user = movies[movie_id], users[user_id]
        assert example['movie_title'] == [movie[1]]
        assert example['movie_genres'] == [genre for genre, flag in
                                           zip(features.GENRES, movie[5:]) if flag == '1']
        age = int(user[1])
        assert example['raw_user_age'] == [age]
        assert example['bucketized_user_age'] == [max(b for b in features.AGE_BUCKETS
                                                      if b <= max(age, 1))]
        assert example['user_gender'] == [user[2]]
        assert example['user_occupation_text'] == [user[3]]
        assert example['user_zip_code'] == [user[4]]
    assert seen == set(ratings)


def test_latin1_titles_come_out_as_utf8(folder_run):
    titles = {example['movie_id'][0]: example['movie_title'][0]
              for example in folder_run.all_examples()}
    accented = [title for title in titles.values() if not title.isascii()]
    assert accented, 'the generator writes accented titles'
    assert titles['1'].startswith('Misérables, Les (')


def test_split_is_the_hash_of_user_and_movie(folder_run):
    for split in features.SPLITS:
        for user_id, movie_id in folder_run.ids(split):
            assert expected_split(user_id, movie_id) == split


def test_split_proportions_are_those_of_the_buckets(folder_run):
    for split, buckets in zip(features.SPLITS, BUCKETS):
        share = len(folder_run.examples[split]) / NUM_RATINGS
        assert abs(share - buckets / 100) < SHARE_TOLERANCE, (split, share)


def test_zip_gives_the_same_examples_as_the_folder(folder_run, zip_run):
    def canonical(examples):
        return sorted(json.dumps(example, sort_keys=True) for example in examples)

    for split in features.SPLITS:
        assert zip_run.examples[split]
        assert canonical(zip_run.examples[split]) == canonical(folder_run.examples[split])


def test_1m_format_in_a_sub_folder(format_1m, run_1m, folder_run):
    # Shuffled rows in another format land in the same splits: the split depends on the
    # (user, movie) pair only.
    for split in features.SPLITS:
        assert run_1m.ids(split) == folder_run.ids(split)
    users = {fields[0]: fields for fields in
             (line.split('::') for line in read_lines(f'{format_1m}/ml-1m/users.dat'))}
    movies = {fields[0]: fields for fields in (line.split('::') for line in read_lines(
        f'{format_1m}/ml-1m/movies.dat', 'latin-1'))}
    occupations = dict(enumerate(grouplens._1M_OCCUPATIONS))
    children = 0
    for example in run_1m.all_examples():
        assert features.RAW_USER_AGE not in example
        user = users[example['user_id'][0]]
        assert example['bucketized_user_age'] == [int(user[2])]
        assert example['user_occupation_text'] == [occupations[int(user[3])]]
        movie = movies[example['movie_id'][0]]
        assert example['movie_title'] == [movie[1]]
        assert example['movie_genres'] == [
            'Children' if genre == "Children's" else genre for genre in movie[2].split('|')]
        children += 'Children' in example['movie_genres']
    assert children > 0


def test_predefined_split_u1(generated, tmp_path):
    run = data.run_executor(str(tmp_path / 'out'), generated, predefined_split='u1')
    base = [tuple(line.split('\t')[:2]) for line in read_lines(f'{generated}/u1.base')]
    test = [tuple(line.split('\t')[:2]) for line in read_lines(f'{generated}/u1.test')]
    assert run.ids('test') == sorted(test)
    assert sorted(run.ids('train') + run.ids('eval')) == sorted(base)
    # eval is carved from base in the ratio 8 / (72 + 8), by the same hash.
    assert abs(len(run.ids('eval')) / len(base) - 0.1) < U1_EVAL_SHARE_TOLERANCE
    for user_id, movie_id in run.ids('eval'):
        assert expected_split(user_id, movie_id, (72, 8)) == 'eval'


def _tfds_rows():
    return [
        {'movie_id': b'543', 'movie_title': 'Misérables, Les (1995)'.encode('utf-8'),
         'movie_genres': np.array([3, 7], np.int64), 'user_id': b'42',
         'user_rating': np.float32(4.0), 'timestamp': np.int64(881250949),
         'user_gender': True, 'bucketized_user_age': np.float32(25.0),
         'user_occupation_label': np.int64(18), 'user_occupation_text': b'technician',
         'user_zip_code': b'85711', 'raw_user_age': np.float32(27.0)},
        {'movie_id': b'1', 'movie_title': b'Toy Story (1995)',
         'movie_genres': np.array([17], np.int64), 'user_id': b'7',
         'user_rating': np.float32(2.0), 'timestamp': np.int64(875071561),
         'user_gender': False, 'bucketized_user_age': np.float32(1.0),
         'user_occupation_label': np.int64(17), 'user_occupation_text': b'student',
         'user_zip_code': b'T8H1N', 'raw_user_age': np.float32(16.0)},
    ]


def test_tfds_source_with_mock_data(tmp_path):
    def as_dataset(builder, split, **unused_kwargs):
        return tf.data.Dataset.from_generator(
            _tfds_rows, output_signature=builder.info.features.get_tensor_spec())

    # The executor runs in-process (Beam's in-memory runner), so the mock reaches its reads.
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        run = data.run_executor(str(tmp_path / 'out'), str(tmp_path), source='tfds',
                                tfds_name='movielens/100k-ratings')
    examples = {example['user_id'][0]: example for example in run.all_examples()}
    assert sorted(examples) == ['42', '7']
    assert examples['42'] == {
        'movie_id': ['543'], 'movie_title': ['Misérables, Les (1995)'],
        'movie_genres': ['Children', 'Drama'], 'user_id': ['42'], 'user_rating': [4.0],
        'timestamp': [881250949], 'user_gender': ['M'], 'bucketized_user_age': [25],
        'raw_user_age': [27], 'user_occupation_text': ['technician'],
        'user_zip_code': ['85711']}
    assert examples['7']['movie_genres'] == ['unknown']
    assert examples['7']['user_gender'] == ['F']
    assert examples['7']['bucketized_user_age'] == [1]
    for split in features.SPLITS:
        for user_id, movie_id in run.ids(split):
            assert expected_split(user_id, movie_id) == split
    assert run.skipped_rows == 0


def _fingerprint(component: MovieLensExampleGen) -> str:
    """The input fingerprint TFX's FileBasedDriver computes for the component."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(data.exec_properties(component)['input_config'], input_config)
    fingerprint, _, _ = example_gen_utils.calculate_splits_fingerprint_span_and_version(
        component.exec_properties['input_base'], input_config.splits)
    return fingerprint


def _touch(path: str, seconds_later: int = 10) -> None:
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + seconds_later))


def test_cache_fingerprint_covers_the_files_read(tmp_path):
    # The files in a sub-folder: the fingerprint must follow them there.
    folder = data.write_folder(str(tmp_path / 'data' / 'ml-100k'))
    component = data.example_gen(str(tmp_path / 'data'))
    before = _fingerprint(component)
    assert 'num_files:3,' in before
    for name in ('u.data', 'u.item', 'u.user'):
        _touch(os.path.join(folder, name))
        after = _fingerprint(component)
        assert after != before, name
        before = after

    zip_path = data.zip_folder(folder, str(tmp_path / 'ml-100k.zip'))
    zipped = data.example_gen(zip_path)
    assert zipped.exec_properties['input_base'] == str(tmp_path)
    before = _fingerprint(zipped)
    assert 'num_files:1,' in before
    _touch(os.path.join(folder, 'u.data'))  # another file in the zip's folder
    assert _fingerprint(zipped) == before
    _touch(zip_path)
    assert _fingerprint(zipped) != before


def test_in_a_tfx_pipeline_cached_until_the_data_changes(tmp_path):
    folder = data.write_folder(str(tmp_path / 'ml'),
                               data.with_line(data.RATING_LINES, 2, '1\t2\t9\t876893171'))
    connection = metadata.sqlite_metadata_connection_config(str(tmp_path / 'metadata.db'))

    def run():
        example_gen = data.example_gen(folder, skip_bad_rows=True)
        local_dag_runner.LocalDagRunner().run(tfx_pipeline.Pipeline(
            pipeline_name='movielens-example-gen-test', pipeline_root=str(tmp_path / 'root'),
            components=[example_gen], enable_cache=True,
            metadata_connection_config=connection))
        with metadata.Metadata(connection) as store:
            artifacts = store.store.get_artifacts_by_type('Examples')
            executions = store.store.get_executions()
        return artifacts, executions

    artifacts, executions = run()
    assert len(artifacts) == 1
    assert artifacts[0].custom_properties['skipped_rows'].int_value == 1
    split_names = artifacts[0].properties['split_names'].string_value
    assert split_names == '["train", "eval", "test"]'

    artifacts, executions = run()
    assert len(artifacts) == 1, 'unchanged data: the cached output is reused'

    _touch(os.path.join(folder, 'u.data'))
    artifacts, executions = run()
    assert len(artifacts) == 2, 'changed data: the component runs again'
    states = [execution.last_known_state for execution in executions]
    assert states == [metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED,
                      metadata_store_pb2.Execution.COMPLETE]


@pytest.mark.movielens
def test_real_movielens_100k_zip_layout(movielens_dir, tmp_path):
    """The official zip layout (top folder ml-100k/) parses without extracting."""
    zip_path = str(tmp_path / 'ml-100k.zip')
    with zipfile.ZipFile(zip_path, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        for name in ('u.data', 'u.item', 'u.user'):
            archive.write(os.path.join(movielens_dir, name), f'ml-100k/{name}')
    layout = grouplens.locate(zip_path)
    movies = grouplens.read_movies(layout)
    assert movies['543'].title == 'Misérables, Les (1995)'
    assert len(grouplens.read_users(layout)) == 943


def test_bucket_paths_compile_without_reading_the_bucket():
    folder = data.example_gen('gs://bucket/movielens/ml-100k/')
    assert folder.exec_properties['input_base'] == 'gs://bucket/movielens/ml-100k'
    assert '"pattern": "*"' in data.exec_properties(folder)['input_config']
    zipped = data.example_gen('gs://bucket/movielens/ml-100k.zip')
    assert zipped.exec_properties['input_base'] == 'gs://bucket/movielens'
    assert '"pattern": "ml-100k.zip"' in data.exec_properties(zipped)['input_config']
    tfds_data = data.example_gen('gs://bucket/tfds', source='tfds')
    assert tfds_data.exec_properties['input_base'] == 'gs://bucket/tfds'


def test_uri_paths_are_read_through_tf_gfile(tmp_path):
    # TF's in-memory file system stands in for a bucket.
    local = data.write_folder(str(tmp_path / 'ml-100k'))
    zip_path = data.zip_folder(local, str(tmp_path / 'ml-100k.zip'))
    root = f'ram://movielens-{os.getpid()}'
    for name in ('u.data', 'u.item', 'u.user'):
        tf.io.gfile.makedirs(f'{root}/data/ml-100k')
        tf.io.gfile.copy(os.path.join(local, name), f'{root}/data/ml-100k/{name}')
    tf.io.gfile.copy(zip_path, f'{root}/ml-100k.zip')
    try:
        for index, data_path in enumerate([f'{root}/data', f'{root}/ml-100k.zip']):
            run = data.run_executor(str(tmp_path / f'out{index}'), data_path)
            titles = {example['movie_title'][0] for example in run.all_examples()}
            assert len(run.all_examples()) == len(data.RATING_LINES)
            assert 'Misérables, Les (1995)' in titles
        bad_ratings = f'{root}/data/ml-100k/u.data'
        tf.io.gfile.remove(bad_ratings)  # the in-memory file system appends to a file on 'w'
        with tf.io.gfile.GFile(bad_ratings, 'w') as stream:
            stream.write('1\t1\t5\t874965758\n1\t2\t0\t876893171\n')
        with pytest.raises(BadInputError, match=f"{bad_ratings} line 2: rating '0' is outside"):
            data.run_executor(str(tmp_path / 'bad'), f'{root}/data')
    finally:
        tf.io.gfile.rmtree(root)


def _tfx_write_split_run(output_dir: str, data_path: str, make_pipeline=None) -> data.Run:
    """The executor's examples written by TFX's own ExampleGen Do (WriteSplit, with its
    Reshuffle): the reference for what an ExampleGen's output looks like."""
    component = data.example_gen(data_path)
    artifact = standard_artifacts.Examples()
    artifact.uri = output_dir
    executor = Executor(base_beam_executor.BaseBeamExecutor.Context(
        make_beam_pipeline_fn=make_pipeline))
    base_example_gen_executor.BaseExampleGenExecutor.Do(
        executor, {}, {'examples': [artifact]}, data.exec_properties(component))
    return data.Run(artifact, {split: data.read_examples(output_dir, split)
                               for split in features.SPLITS})


def _files(output_dir: str):
    return sorted(os.path.relpath(os.path.join(folder, name), output_dir)
                  for folder, _, names in os.walk(output_dir) for name in names)


def test_output_is_what_tfx_example_gen_writes(generated, folder_run, tmp_path):
    reference = _tfx_write_split_run(str(tmp_path / 'tfx'), generated)
    written = _files(folder_run.artifact.uri)
    assert written == _files(reference.artifact.uri)
    assert {name.partition('/')[0] for name in written} == {
        f'Split-{split}' for split in features.SPLITS}
    for name in written:
        assert re.fullmatch(r'Split-\w+/data_tfrecord-\d{5}-of-\d{5}\.gz', name), name
        with open(os.path.join(folder_run.artifact.uri, name), 'rb') as stream:
            assert stream.read(2) == b'\x1f\x8b', f'{name} is not gzipped'

    def properties(artifact):
        return {name: artifact.get_custom_property(name)
                for name in artifact.mlmd_artifact.custom_properties}

    assert properties(folder_run.artifact) == {**properties(reference.artifact),
                                               'skipped_rows': 0, 'format': '100k',
                                               'split': 'hash'}
    assert properties(reference.artifact) == {'payload_format': 'FORMAT_TF_EXAMPLE',
                                              'file_format': 'tfrecords_gzip'}
    assert folder_run.artifact.split_names == reference.artifact.split_names
    assert examples_utils.get_payload_format(folder_run.artifact) == \
        example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE

    expected_counts = collections.Counter(
        expected_split(*line.split('\t')[:2]) for line in read_lines(f'{generated}/u.data'))
    assert {split: len(folder_run.examples[split]) for split in features.SPLITS} == \
        {split: expected_counts[split] for split in features.SPLITS}
    for split in features.SPLITS:
        assert sorted(json.dumps(example, sort_keys=True)
                      for example in folder_run.examples[split]) == \
            sorted(json.dumps(example, sort_keys=True) for example in reference.examples[split])


def _shuffles_after_parsing(pipeline: beam.Pipeline) -> List[str]:
    """The GroupByKeys that the examples pass through between ToExamples and the step
    that writes them to files: each buffers all its input in Beam's in-memory runner."""
    class Leaves(beam.pipeline.PipelineVisitor):
        def __init__(self):
            self.consumers = collections.defaultdict(list)
            self.parse = None

        def visit_transform(self, node):
            for pcoll in node.inputs:
                self.consumers[pcoll].append(node)
            if node.full_label.startswith('ToExamples/'):
                self.parse = node

    leaves = Leaves()
    pipeline.visit(leaves)
    assert leaves.parse, 'no ToExamples step'
    shuffles, writers, seen = [], 0, set()
    # The examples, not what each work unit counted (a few records, merged by a GroupByKey).
    pending = [pcoll for tag, pcoll in leaves.parse.outputs.items() if tag in features.SPLITS]
    while pending:
        for node in leaves.consumers[pending.pop()]:
            if node.full_label in seen:
                continue
            seen.add(node.full_label)
            if isinstance(node.transform, beam.GroupByKey):
                shuffles.append(node.full_label)
            if node.full_label.endswith('/WriteBundles'):
                writers += 1  # its output is file names, not examples
            else:
                pending.extend(node.outputs.values())
    assert writers == len(features.SPLITS), 'the examples reach no file writer'
    return shuffles


def test_examples_stream_to_their_files_without_a_group_by_key(tmp_path):
    folder = data.write_folder(str(tmp_path / 'ml'))
    pipelines = []

    def make_pipeline():
        pipelines.append(beam.Pipeline())
        return pipelines[-1]

    component = data.example_gen(folder)
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path / 'out')
    Executor(base_beam_executor.BaseBeamExecutor.Context(make_beam_pipeline_fn=make_pipeline)
             ).Do({}, {'examples': [artifact]}, data.exec_properties(component))
    assert _shuffles_after_parsing(pipelines[-1]) == []
    # The check can fail: TFX's own write path shuffles every split.
    _tfx_write_split_run(str(tmp_path / 'tfx'), folder, make_pipeline)
    assert len(_shuffles_after_parsing(pipelines[-1])) == len(features.SPLITS)
