"""The pipeline's default Beam arguments: Beam runs locally without fetching anything, and
TFX's executors read examples in large batches."""
import logging

import apache_beam as beam
import tensorflow as tf
from absl.testing import flagsaver
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from tfx.components.statistics_gen import executor as statistics_executor
from tfx_bsl.public import tfxio

from pipeline import configs


def test_default_runner_runs_locally_without_trying_prism(caplog):
    # Beam's DirectRunner would first try Prism, downloading its binary from GitHub.
    caplog.set_level(logging.INFO, logger='apache_beam')
    with beam.Pipeline(options=PipelineOptions(list(configs.BEAM_PIPELINE_ARGS))) as p:
        assert_that(p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * x),
                    equal_to([1, 4, 9]))
    assert 'prism' not in caplog.text.lower()


def test_tfx_executors_read_small_examples_in_batches_of_8192(tmp_path):
    # tfx_bsl batches by bytes once a TFX Beam executor has read its flag from the arguments;
    # a small example then weighs 20 MiB / 8,192. Without it, Beam tunes batches of <= 1,000.
    path = str(tmp_path / 'examples.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
        for index in range(3000):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                'x': tf.train.Feature(int64_list=tf.train.Int64List(value=[index]))})
            ).SerializeToString())
    source = tfxio.TFExampleRecord(file_pattern=path, telemetry_descriptors=['test'])
    with flagsaver.flagsaver():
        statistics_executor.Executor(statistics_executor.Executor.Context(
            beam_pipeline_args=[*configs.BEAM_PIPELINE_ARGS, '--setup_file=unused']))
        with beam.Pipeline(options=PipelineOptions(list(configs.BEAM_PIPELINE_ARGS))) as p:
            assert_that(p | source.BeamSource() | beam.Map(lambda batch: batch.num_rows),
                        equal_to([3000]))
