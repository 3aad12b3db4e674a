"""StatisticsGen, Transform and the Evaluator reading the ExampleGen's files in batches of
records.

TFX's tf.Example reader (tfx_bsl's TFExampleRecord) makes every record a Beam element,
then batches the records again and decodes each batch to an Arrow RecordBatch. In one
process, passing each of 10M records through Beam cost more than the statistics computed
from them. Here each file is read with tf.data in batches of records, and each batch is
decoded as TFExampleRecord decodes it, with the same schema: the components see the same
RecordBatches, and Beam handles one element per batch. Each file is one element too, so a
distributed runner still reads a split's files in parallel.

tfx_bsl's decoder releases the GIL, so the next batches are decoded in a thread of their own
while the component works on this one: a Beam bundle is otherwise one thread, and the
second core would idle.
"""
import collections
import concurrent.futures
from typing import List, Optional
from unittest import mock

import apache_beam as beam
import pyarrow as pa
import tensorflow as tf
from tfx.components import Evaluator, StatisticsGen, Transform
from tfx.components.evaluator import executor as evaluator_executor
from tfx.components.statistics_gen import executor as statistics_gen_executor
from tfx.components.transform import executor as transform_executor
from tfx.components.util import tfxio_utils
from tfx.dsl.components.base import executor_spec
from tfx_bsl.coders import example_coder
from tfx_bsl.tfxio import record_based_tfxio
from tfx_bsl.tfxio import tf_example_record

RECORDS_PER_BATCH = 8192  # as tfx_bsl's byte-size batching caps a batch (configs.py)
# Batches decoded ahead of the one the component works on: enough to keep the decoding
# thread busy while the component works, few enough to hold little memory.
DECODED_AHEAD = 2


class _ReadRecordBatches(beam.DoFn):
    """A file of gzipped (.gz) or plain TFRecords of tf.Examples -> its RecordBatches."""

    def __init__(self, serialized_schema: Optional[bytes],
                 raw_record_column_name: Optional[str], batch_size: int):
        self._serialized_schema = serialized_schema
        self._raw_record_column_name = raw_record_column_name
        self._batch_size = batch_size

    def setup(self):
        self._decoder = (example_coder.ExamplesToRecordBatchDecoder(self._serialized_schema)
                         if self._serialized_schema else
                         example_coder.ExamplesToRecordBatchDecoder())
        # One thread: the decoder reuses its builders, so its calls must not overlap. Not a
        # daemon: at exit Python waits for the batch it is decoding, a few milliseconds.
        self._decoder_thread = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix='DecodeBatch')

    def teardown(self):
        if hasattr(self, '_decoder_thread'):  # not if setup failed: its error is the one
            self._decoder_thread.shutdown(wait=False, cancel_futures=True)

    def _decode(self, records) -> pa.RecordBatch:
        records = records.tolist()
        decoded = self._decoder.DecodeBatch(records)
        if self._raw_record_column_name is not None:
            decoded = record_based_tfxio.AppendRawRecordColumn(
                decoded, self._raw_record_column_name, records)
        return decoded

    def process(self, path: str):
        records = tf.data.TFRecordDataset(
            path, compression_type='GZIP' if path.endswith('.gz') else '')
        pending = collections.deque()  # decoded or being decoded, in the file's order
        try:
            for batch in records.batch(self._batch_size).prefetch(1).as_numpy_iterator():
                pending.append(self._decoder_thread.submit(self._decode, batch))
                if len(pending) > DECODED_AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # a bundle that failed, or a reader that stopped: nobody reads the rest
            for future in pending:
                future.cancel()


class BatchedTFExampleRecord(tf_example_record.TFExampleRecord):
    """TFExampleRecord whose BeamSource reads each file in batches of records (its
    RawRecordBeamSource, which neither component uses, still reads record by record)."""

    @classmethod
    def like(cls, tfxio) -> 'BatchedTFExampleRecord':
        """The same reader as a TFExampleRecord: its files, schema and raw record column."""
        return cls(file_pattern=tfxio._file_pattern, schema=tfxio._schema,  # pylint: disable=protected-access
                   raw_record_column_name=tfxio.raw_record_column_name,
                   telemetry_descriptors=tfxio.telemetry_descriptors)

    def files(self) -> List[str]:
        files = sorted({path for pattern in self._file_pattern
                        for path in tf.io.gfile.glob(pattern)})
        if not files:
            raise ValueError(f'No files match {self._file_pattern}: the ExampleGen wrote none '
                             'there, or they were removed since.')
        return files

    def BeamSource(self, batch_size: Optional[int] = None) -> beam.PTransform:
        schema = self._GetSchemaForDecoding()

        @beam.typehints.with_output_types(pa.RecordBatch)
        def read(pipeline):
            return (pipeline
                    | 'Files' >> beam.Create(self.files())
                    | 'ReadAndDecode' >> beam.ParDo(_ReadRecordBatches(
                        schema.SerializeToString() if schema is not None else None,
                        self.raw_record_column_name, batch_size or RECORDS_PER_BATCH)))

        return beam.ptransform_fn(read)()

    def _ProjectImpl(self, tensor_names):
        return BatchedTFExampleRecord.like(super()._ProjectImpl(tensor_names))


def batched(tfxio):
    """`tfxio` reading in batches of records if it reads tf.Example TFRecords, else itself."""
    if type(tfxio) is tf_example_record.TFExampleRecord:  # pylint: disable=unidiomatic-typecheck
        return BatchedTFExampleRecord.like(tfxio)
    return tfxio


class StatisticsGenExecutor(statistics_gen_executor.Executor):
    """TFX's StatisticsGen executor, reading each split with BatchedTFExampleRecord.

    TFX's executor builds its readers with tfxio_utils.get_split_tfxio, called through the
    module, and offers no other hook: that function is replaced while Do runs (components
    run one at a time in a process), and all else is TFX's. A test checks that every
    split is read in batches, should TFX stop calling it so.
    """

    def Do(self, input_dict, output_dict, exec_properties):
        split_tfxio = tfxio_utils.get_split_tfxio
        with mock.patch.object(tfxio_utils, 'get_split_tfxio',
                               lambda *args, **kwargs: batched(split_tfxio(*args, **kwargs))):
            super().Do(input_dict, output_dict, exec_properties)


class BatchedTransformProcessor(transform_executor.TransformProcessor):
    """TFX's TransformProcessor, which does Transform's work, reading with
    BatchedTFExampleRecord."""

    def _CreateTFXIO(self, dataset, schema):
        return batched(super()._CreateTFXIO(dataset, schema))


class TransformExecutor(transform_executor.Executor):
    """TFX's Transform executor with BatchedTransformProcessor.

    TFX's executor makes its TransformProcessor by the module's name for it and offers no
    other hook: the name is replaced while Do runs, as for StatisticsGenExecutor.
    """

    def Do(self, input_dict, output_dict, exec_properties):
        with mock.patch.object(transform_executor, 'TransformProcessor',
                               BatchedTransformProcessor):
            super().Do(input_dict, output_dict, exec_properties)


class EvaluatorExecutor(evaluator_executor.Executor):
    """TFX's Evaluator executor, reading the examples it evaluates with
    BatchedTFExampleRecord (and their raw records, which TFMA hands to the models).

    TFX's executor builds its reader factory with tfxio_utils.get_tfxio_factory_from_artifact,
    called through the module: each reader that factory makes is wrapped while Do runs, as
    for StatisticsGenExecutor.
    """

    def Do(self, input_dict, output_dict, exec_properties):
        tfxio_factory = tfxio_utils.get_tfxio_factory_from_artifact

        def batched_factory(*args, **kwargs):
            make = tfxio_factory(*args, **kwargs)
            return lambda file_pattern: batched(make(file_pattern))

        with mock.patch.object(tfxio_utils, 'get_tfxio_factory_from_artifact',
                               batched_factory):
            super().Do(input_dict, output_dict, exec_properties)


class BatchedStatisticsGen(StatisticsGen):
    """tfx.components.StatisticsGen with StatisticsGenExecutor; same inputs and outputs.
    Give it the id 'StatisticsGen' (.with_id) to keep TFX's id."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(StatisticsGenExecutor)


class BatchedTransform(Transform):
    """tfx.components.Transform with TransformExecutor; same inputs and outputs. Give it
    the id 'Transform' (.with_id) to keep TFX's id."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(TransformExecutor)


class BatchedEvaluator(Evaluator):
    """tfx.components.Evaluator with EvaluatorExecutor; same inputs and outputs. Give it the
    id 'Evaluator' (.with_id) to keep TFX's id."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(EvaluatorExecutor)
