"""StatisticsGen, Transform and the Evaluator reading in batches of records: the same
RecordBatches as TFX's reader, decoded beside the component, and the same statistics as TFX's
StatisticsGen executor, from a real ExampleGen run."""
import os
import threading
import types

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
import pyarrow as pa
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.components.statistics_gen import executor as tfx_statistics_gen_executor
from tfx.components.transform import executor as tfx_transform_executor
from tfx.components.util import examples_utils, tfxio_utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio
from tfx_bsl.tfxio import raw_tf_record

from components import batched_reads, curated_schema
from datasets import synthetic
from models import features
from pipeline import configs
from tests.components import movielens_data as data


@pytest.fixture(scope='module')
def examples(tmp_path_factory):
    """A real ExampleGen run on 300 generated ratings (three splits, one file each)."""
    root = tmp_path_factory.mktemp('batched_reads')
    folder = synthetic.write_grouplens(str(root / 'folder'), 300, seed=3)
    return data.run_executor(str(root / 'examples'), folder).artifact


def split_files(examples, split):
    return os.path.join(examples.uri, f'Split-{split}', '*')


_READ = []  # what record_batches' pipeline read; the pipeline runs in this process


def _keep(batch):
    _READ.append(batch)


def record_batches(source):
    """The RecordBatches a TFXIO's BeamSource reads, in a pipeline of the in-process runner."""
    _READ.clear()
    with beam.Pipeline(options=PipelineOptions(list(configs.BEAM_PIPELINE_ARGS))) as pipeline:
        _ = pipeline | source | beam.Map(_keep)
    return list(_READ)


@pytest.mark.parametrize('schema', [None, curated_schema.load('100k')], ids=['no schema',
                                                                            'schema'])
@pytest.mark.parametrize('raw_record_column_name', [None, '__raw_record__'])
def test_the_record_batches_are_tfxs_in_batches_of_the_size_asked(examples, schema,
                                                                  raw_record_column_name):
    patterns = [split_files(examples, split) for split in features.SPLITS]
    tfx_reader = tfxio.TFExampleRecord(file_pattern=patterns, schema=schema,
                                       raw_record_column_name=raw_record_column_name)
    ours = batched_reads.batched(tfx_reader)
    assert isinstance(ours, batched_reads.BatchedTFExampleRecord)
    batches = record_batches(ours.BeamSource(batch_size=16))
    read, expected = (pa.Table.from_batches(b)
                      for b in (batches, record_batches(tfx_reader.BeamSource())))
    assert read.schema.equals(expected.schema)
    # Beam gives no order between bundles: the same rows, in any order.
    assert sorted(map(repr, read.to_pylist())) == sorted(map(repr, expected.to_pylist()))
    assert expected.num_rows == 300 and max(batch.num_rows for batch in batches) == 16
    if schema is not None:
        assert ours.ArrowSchema().equals(tfx_reader.ArrowSchema())


def test_a_files_batches_come_in_its_order_decoded_in_a_thread_of_their_own(examples,
                                                                          monkeypatch):
    [path] = tf.io.gfile.glob(split_files(examples, features.TRAIN_SPLIT))
    reader = batched_reads._ReadRecordBatches(None, '__raw_record__', batch_size=16)
    reader.setup()
    decoding_threads = set()
    decode = reader._decode

    def recorded(records):
        decoding_threads.add(threading.current_thread().name)
        return decode(records)

    monkeypatch.setattr(reader, '_decode', recorded)
    try:
        read = list(reader.process(path))
    finally:
        reader.teardown()
    records = [record.numpy() for record in tf.data.TFRecordDataset(path, 'GZIP')]
    batches = [records[start:start + 16] for start in range(0, len(records), 16)]
    assert len(read) == len(batches) > batched_reads.DECODED_AHEAD + 1
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    for got, batch in zip(read, batches):
        decoded = decoder.DecodeBatch(batch)
        assert got.schema.names == decoded.schema.names + ['__raw_record__']
        assert got.column('__raw_record__').to_pylist() == [[record] for record in batch]
        for name in decoded.schema.names:
            assert got.column(name).equals(decoded.column(name)), name
    assert decoding_threads == {'DecodeBatch_0'}


def test_an_error_in_the_decoding_thread_is_raised_where_the_batches_are_read(tmp_path):
    path = str(tmp_path / 'damaged.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(b'not a tf.Example')
    reader = batched_reads._ReadRecordBatches(None, None, batch_size=16)
    reader.setup()
    try:
        with pytest.raises(Exception, match='(?i)parse'):
            list(reader.process(path))
    finally:
        reader.teardown()


def test_transform_reads_in_batches_what_it_projects(examples):
    """Transform builds its readers with _CreateTFXIO and reads only the columns it needs,
    through Project."""
    dataset = types.SimpleNamespace(
        file_pattern=[split_files(examples, features.TRAIN_SPLIT)],
        file_format=[examples_utils.get_file_format(examples)],
        data_format=example_gen_pb2.FORMAT_TF_EXAMPLE, data_view_uri=None)
    schema = curated_schema.load('100k')
    reader = batched_reads.BatchedTransformProcessor()._CreateTFXIO(dataset, schema)
    assert isinstance(reader, batched_reads.BatchedTFExampleRecord)
    projected = reader.Project([features.USER_ID, features.USER_RATING])
    batches = record_batches(projected.BeamSource(batch_size=16))
    assert {tuple(batch.schema.names) for batch in batches} == {
        (features.USER_ID, features.USER_RATING)}
    assert sum(batch.num_rows for batch in batches) == len(data.read_examples(
        examples.uri, features.TRAIN_SPLIT))
    assert max(batch.num_rows for batch in batches) == 16


def test_transform_executor_does_its_work_with_the_batched_processor(monkeypatch):
    processors = []
    monkeypatch.setattr(tfx_transform_executor.Executor, 'Do', lambda *_: processors.append(
        tfx_transform_executor.TransformProcessor))
    batched_reads.TransformExecutor().Do({}, {}, {})
    assert processors == [batched_reads.BatchedTransformProcessor]
    # Only while Do runs.
    assert tfx_transform_executor.TransformProcessor is not \
        batched_reads.BatchedTransformProcessor


def test_the_evaluator_reads_in_batches_while_it_runs(examples, monkeypatch):
    def make_reader():
        factory = tfxio_utils.get_tfxio_factory_from_artifact(
            [examples], [], raw_record_column_name='__raw_record__')
        return factory(split_files(examples, features.TEST_SPLIT))

    readers = []
    monkeypatch.setattr(tfx_evaluator_executor.Executor, 'Do',
                        lambda *_: readers.append(make_reader()))
    batched_reads.EvaluatorExecutor().Do({}, {}, {})
    [reader] = readers
    assert isinstance(reader, batched_reads.BatchedTFExampleRecord)
    assert reader.raw_record_column_name == '__raw_record__'  # which TFMA gives the models
    assert not isinstance(make_reader(), batched_reads.BatchedTFExampleRecord)  # only in Do


def test_other_readers_are_left_as_they_are(examples):
    raw = raw_tf_record.RawTfRecordTFXIO(split_files(examples, features.TRAIN_SPLIT),
                                         raw_record_column_name='raw', telemetry_descriptors=[])
    assert batched_reads.batched(raw) is raw


def test_a_pattern_that_matches_no_file_is_an_error_naming_it(tmp_path):
    pattern = str(tmp_path / 'Split-train' / '*')
    reader = batched_reads.batched(tfxio.TFExampleRecord(file_pattern=pattern))
    with pytest.raises(ValueError, match=f'No files match .*{pattern}.*the ExampleGen'):
        record_batches(reader.BeamSource())


def run_statistics_gen(executor_class, examples, output_dir):
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = output_dir
    executor_class().Do({'examples': [examples]}, {'statistics': [statistics]},
                        {'exclude_splits': '[]'})
    return {split: tfdv.load_stats_binary(os.path.join(output_dir, f'Split-{split}',
                                                       'FeatureStats.pb'))
            for split in features.SPLITS}


def test_statistics_gen_writes_the_statistics_tfxs_executor_writes(examples, tmp_path,
                                                                   batched_sources):
    ours = run_statistics_gen(batched_reads.StatisticsGenExecutor, examples,
                              str(tmp_path / 'ours'))
    assert len(batched_sources) == len(features.SPLITS)  # each split read in batches
    theirs = run_statistics_gen(tfx_statistics_gen_executor.Executor, examples,
                                str(tmp_path / 'tfx'))
    for split in features.SPLITS:
        assert ours[split].datasets[0].num_examples > 0
        assert ours[split] == theirs[split], split
