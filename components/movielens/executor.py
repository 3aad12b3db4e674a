"""The Beam executor of MovieLensExampleGen: MovieLens ratings in, train/eval/test out.

It overrides GenerateExamplesByBeam rather than GetInputSourceToExamplePTransform: the base
class would read the input once per split, and split by a hash of the serialised example.
Here the ratings are read and parsed once, joined with their movie and user, and split by a
hash of the (user id, movie id) pair, or by time. It also overrides Do, to write the
examples as they are made rather than through the base class's shuffle (see Executor.Do),
and to record the release's format and the kind of split on the Examples artifact.

The counts it records (examples per split, skipped rows) come out of the Beam pipeline as
a small file of its own, not as Beam metrics: not every runner reports metrics (Beam's
DaskRunner does not), and a distributed runner that retries a work unit may count the
failed attempt in them. The file holds what the committed work units counted.
"""
import dataclasses
import datetime
import functools
import json
import os
import queue
import struct
import threading
import zlib
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from absl import logging
import apache_beam as beam
from apache_beam.io import filebasedsink
from apache_beam.io import filesystem as filesystem_io
from apache_beam.transforms.stats import ApproximateQuantilesCombineFn
import google_crc32c
import numpy as np
from google.protobuf import any_pb2
from google.protobuf import json_format
from google.protobuf import struct_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components import filesystem
from components.movielens import contract
from components.movielens import errors
from components.movielens import grouplens
from components.movielens import reads
from components.movielens import splits
from components.movielens import tf_examples
from components.movielens import tfds_source
from components.movielens.contract import GROUPLENS, PREDEFINED_SPLITS, TFDS, TFDS_FORMATS
from components.movielens.errors import BadInputError
from components.movielens.rows import JoinedColumns
from models import features

# _ToExamples's output of what each work unit counted, next to the splits' examples.
_OUTCOME = 'outcome'
# Where the pipeline writes the counts of all work units, in the Examples artifact's folder
# (which every worker can reach, as it writes the splits there); removed once read.
_OUTCOME_FILE = '.movielens_example_gen_outcome.json'
# The time split's cut points are within this fraction of the ratings of the exact
# quantiles (Beam's ApproximateQuantiles): ±2,500 ratings of 25M. Its memory grows with
# 1 / epsilon, not with the data.
_QUANTILE_EPSILON = 1e-4
# The log shows the first few reasons for skipped rows.
_REASONS_LOGGED = 5
# Examples travel through Beam, and into their files, in lists of this many: Beam's cost per
# element, and the gzip stream's per write, would otherwise be most of the ExampleGen's time.
_BATCH_SIZE = 1000

# Names the split of a rating from its (user id, movie id, timestamp).
Splitter = Callable[[str, str, int], str]


@dataclasses.dataclass(frozen=True)
class Settings:
    """What MovieLensExampleGen reads; it travels to the executor in custom_config.

    The runners' flags admit only valid settings, so a ValueError here is a wiring mistake.
    """
    data_path: str
    source: str
    tfds_name: Optional[str] = None  # with source TFDS
    predefined_split: Optional[str] = None
    split: str = contract.SPLIT_HASH  # or SPLIT_TIME; with a predefined split, how eval is made
    skip_bad_rows: bool = False

    def __post_init__(self):
        if not self.data_path:
            raise ValueError('MovieLensExampleGen needs a data_path')
        if self.source not in (GROUPLENS, TFDS):
            raise ValueError(f'source {self.source!r} is not {GROUPLENS!r} or {TFDS!r}')
        if self.source == TFDS:
            if (self.tfds_name or '').partition(':')[0] not in TFDS_FORMATS:
                raise ValueError(f'tfds_name {self.tfds_name!r} is not one of '
                                 f'{", ".join(TFDS_FORMATS)}')
            if self.predefined_split:
                raise ValueError('a predefined split needs the GroupLens files (uN.base, '
                                 'uN.test); the TFDS source has none')
        if self.predefined_split and self.predefined_split not in PREDEFINED_SPLITS:
            raise ValueError(f'predefined split {self.predefined_split!r} is not one of '
                             f'{", ".join(PREDEFINED_SPLITS)}')
        if self.split not in (contract.SPLIT_HASH, contract.SPLIT_TIME):
            raise ValueError(f'split {self.split!r} is not {contract.SPLIT_HASH!r} or '
                             f'{contract.SPLIT_TIME!r}')
        if self.predefined_split and self.split == contract.SPLIT_TIME:
            raise ValueError('a predefined split fixes the test split; it cannot also be '
                             'split by time')

    @property
    def split_kind(self) -> str:
        """The kind of split the examples get: one of contract.SPLIT_KINDS."""
        return contract.SPLIT_PREDEFINED if self.predefined_split else self.split

    def to_custom_config(self) -> example_gen_pb2.CustomConfig:
        struct = struct_pb2.Struct()
        struct.update(dataclasses.asdict(self))
        packed = any_pb2.Any()
        packed.Pack(struct)
        return example_gen_pb2.CustomConfig(custom_config=packed)

    @classmethod
    def from_exec_properties(cls, exec_properties: Mapping[str, Any]) -> 'Settings':
        custom_config = example_gen_pb2.CustomConfig()
        proto_utils.json_to_proto(
            exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or '{}',
            custom_config)
        struct = struct_pb2.Struct()
        if not custom_config.custom_config.Unpack(struct):
            raise ValueError('the MovieLens executor needs the custom_config that '
                             'MovieLensExampleGen sets; run it through that component')
        return cls(**json_format.MessageToDict(struct))


def input_location(settings: Settings) -> Tuple[str, str]:
    """(input_base, pattern): the files whose changes make TFX rerun the component."""
    if settings.source == TFDS:
        return tfds_source.input_location(settings.data_path, settings.tfds_name)
    if filesystem.is_uri(settings.data_path):
        return grouplens.uri_input_location(settings.data_path)
    layout = grouplens.locate(settings.data_path)
    if settings.predefined_split:
        layout.predefined_split(settings.predefined_split)  # fails now if its files are missing
    return layout.input_base, layout.input_pattern


def _split_buckets(output_config: example_gen_pb2.Output) -> List[int]:
    """The output config's bucket of each split, in the order of features.SPLITS."""
    names = tuple(split.name for split in output_config.split_config.splits)
    if names != features.SPLITS:
        raise ValueError(f'the output splits are {list(names)}; MovieLensExampleGen '
                         f'writes {list(features.SPLITS)}')
    return [split.hash_buckets for split in output_config.split_config.splits]


class _ByPair:
    """A split by the rating's (user, movie) pair."""

    def __init__(self, splitter: Callable[[str, str], str]):
        self._splitter = splitter

    def __call__(self, user_id: str, movie_id: str, timestamp: int) -> str:
        return self._splitter(user_id, movie_id)

    def split_all(self, columns: JoinedColumns) -> np.ndarray:
        """The split of each rating of the columns."""
        return self._splitter.split_all(
            np.array(columns.user_ids, dtype=object)[columns.user_of_rating],
            np.array(columns.movie_ids, dtype=object)[columns.movie_of_rating])


class _ByTime:
    """A split by the rating's timestamp."""

    def __init__(self, splitter: splits.TimeSplitter):
        self._splitter = splitter

    def __call__(self, user_id: str, movie_id: str, timestamp: int) -> str:
        return self._splitter(timestamp)

    def split_all(self, columns: JoinedColumns) -> np.ndarray:
        """The split of each rating of the columns."""
        return self._splitter.split_all(columns.timestamps)


def _pair_splitters(buckets: List[int],
                    predefined_split: Optional[str]) -> Dict[str, Splitter]:
    """How each kind of rows is split by hash: all ratings, or a predefined split's files."""
    if predefined_split:
        # The train file holds train and eval, in the ratio of their buckets.
        return {reads.BASE_ROWS: _ByPair(splits.HashSplitter(features.SPLITS[:2], buckets[:2])),
                reads.TEST_ROWS: _ByPair(splits.FixedSplit(features.TEST_SPLIT))}
    return {reads.ALL_ROWS: _ByPair(splits.HashSplitter(features.SPLITS, buckets))}


@dataclasses.dataclass
class _Outcome:
    """What work units counted: their examples per split, the rows they skipped and the
    first reasons why, and (time split only) the first timestamp of eval and test."""
    examples: Dict[str, int]
    skipped_rows: int = 0
    skip_reasons: List[str] = dataclasses.field(default_factory=list)
    split_starts: Dict[str, int] = dataclasses.field(default_factory=dict)


def _merge_outcomes(outcomes: Iterable[_Outcome]) -> _Outcome:
    """The outcome of all the work units (associative, so Beam may merge in any order)."""
    merged = _Outcome(examples=dict.fromkeys(features.SPLITS, 0))
    for outcome in outcomes:
        for split, count in outcome.examples.items():
            merged.examples[split] += count
        merged.skipped_rows += outcome.skipped_rows
        merged.skip_reasons = sorted(set(merged.skip_reasons) | set(outcome.skip_reasons),
                                     key=_line_order)[:_REASONS_LOGGED]
        merged.split_starts = merged.split_starts or outcome.split_starts
    return merged


class _ToExamples(beam.DoFn):
    """Turns work units (shards, TFDS parts) into lists of serialised tf.Examples, each list
    tagged with its split: by the splitters of each kind of rows, or by time from the split
    starts. Then, tagged _OUTCOME, what the work unit counted."""

    def __init__(self, rows, splitters: Optional[Mapping[str, Splitter]] = None):
        super().__init__()
        self._rows = rows
        self._splitters = dict(splitters or {})

    def setup(self):
        self._rows.setup()

    def process(self, work, split_starts: Optional[List[int]] = None):
        starts = {}
        if split_starts is not None:
            self._splitters = {
                reads.ALL_ROWS: _ByTime(splits.TimeSplitter(features.SPLITS, split_starts))}
            starts = dict(zip(features.SPLITS[1:], split_starts))
        skipped = reads.Skipped()
        columns = self._rows.columns(work)
        batches = (self._batches_of_rows(work, skipped) if columns is None
                   else self._batches_of_columns(columns))
        examples = dict.fromkeys(features.SPLITS, 0)
        for split, batch in batches:
            examples[split] += len(batch)
            yield beam.pvalue.TaggedOutput(split, batch)
        yield beam.pvalue.TaggedOutput(_OUTCOME, _Outcome(examples, skipped.count,
                                                          skipped.reasons, starts))

    def _batches_of_rows(self, work, skipped: reads.Skipped
                         ) -> Iterator[Tuple[str, List[bytes]]]:
        """(split, serialised examples) of the good rows, read and made a row at a time."""
        batches = {split: [] for split in features.SPLITS}
        for role, rating, movie, user in self._rows(work, skipped):
            split = self._splitters[role](rating.user_id, rating.movie_id, rating.timestamp)
            batch = batches[split]
            batch.append(tf_examples.rating_example(
                rating.user_id, rating.movie_id, rating.rating, rating.timestamp, movie, user))
            if len(batch) == _BATCH_SIZE:
                yield split, batch
                batches[split] = []
        yield from ((split, batch) for split, batch in batches.items() if batch)

    def _batches_of_columns(self, columns: JoinedColumns) -> Iterator[Tuple[str, List[bytes]]]:
        """(split, serialised examples) of the ratings of a work unit read in bulk."""
        split_of_rating = self._splitters[columns.role].split_all(columns)
        examples = np.array(tf_examples.rating_examples(columns), dtype=object)
        for split in features.SPLITS:
            chosen = examples[split_of_rating == split].tolist()
            for start in range(0, len(chosen), _BATCH_SIZE):
                yield split, chosen[start:start + _BATCH_SIZE]


class _Timestamps(beam.DoFn):
    """The timestamps of the good rows of a work unit, as one list: the time split's first
    pass, which only measures where to cut."""

    def __init__(self, rows):
        super().__init__()
        self._rows = rows

    def setup(self):
        self._rows.setup()

    def process(self, work):
        columns = self._rows.columns(work)
        yield ([rating.timestamp for _, rating, _, _ in self._rows(work)] if columns is None
               else columns.timestamps.tolist())


def _split_starts(quantiles: List[int], buckets: List[int]) -> List[int]:
    """The first timestamp of eval and of test."""
    return splits.cut_points(quantiles, buckets) if quantiles else [0] * (len(buckets) - 1)


def _plan(settings: Settings) -> reads.Plan:
    return reads.plan(settings.source, settings.data_path, settings.tfds_name,
                      settings.predefined_split, settings.skip_bad_rows)


def _batches_by_split(pipeline: beam.Pipeline, plan: reads.Plan, settings: Settings,
                      buckets: List[int]) -> Dict[str, beam.pvalue.PCollection]:
    """The Beam steps from the plan to lists of the serialised examples of each split, and
    (as _OUTCOME) to what each work unit counted."""
    work = (pipeline
            | 'PlanReads' >> beam.Create(plan.work)
            # Lets a distributed runner read the shards in parallel.
            | 'SpreadReads' >> beam.Reshuffle())
    if settings.split == contract.SPLIT_TIME:
        # Two passes over the ratings: the first finds the cut points, the second splits by
        # them. Reading twice keeps both streaming; holding the parsed rows until the cut
        # points are known would not.
        starts = (work
                  | 'Timestamps' >> beam.ParDo(_Timestamps(plan.rows))
                  | 'Quantiles' >> beam.CombineGlobally(ApproximateQuantilesCombineFn.create(
                      splits.num_quantiles(buckets), epsilon=_QUANTILE_EPSILON,
                      input_batched=True))
                  | 'SplitStarts' >> beam.Map(_split_starts, buckets))
        examples = work | 'ToExamples' >> beam.ParDo(
            _ToExamples(plan.rows), split_starts=beam.pvalue.AsSingleton(starts)
        ).with_outputs(_OUTCOME, *features.SPLITS)
    else:
        examples = work | 'ToExamples' >> beam.ParDo(_ToExamples(
            plan.rows, _pair_splitters(buckets, settings.predefined_split))
        ).with_outputs(_OUTCOME, *features.SPLITS)
    return {name: examples[name] for name in (_OUTCOME, *features.SPLITS)}


@beam.ptransform_fn
def _WriteOutcome(outcomes: beam.pvalue.PCollection, path: str) -> beam.pvalue.PDone:
    """Merges the work units' outcomes into one, written to `path` as JSON."""
    return (outcomes
            | 'Merge' >> beam.CombineGlobally(_merge_outcomes)
            | 'ToJson' >> beam.Map(lambda merged: json.dumps(dataclasses.asdict(merged)))
            | 'Write' >> beam.io.WriteToText(path, num_shards=1, shard_name_template=''))


def _read_outcome(path: str) -> _Outcome:
    """The outcome _WriteOutcome wrote, which this removes."""
    with fileio.open(path) as stream:
        outcome = _Outcome(**json.loads(stream.read()))
    fileio.remove(path)
    return outcome


def _line_order(reason: str) -> Tuple[str, int]:
    """Orders reasons 'FILE line N: ...' by file, then by line number."""
    file_name, _, rest = reason.partition(' line ')
    number = rest.partition(':')[0]
    return file_name, int(number) if number.isdigit() else 0


def _utc(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime(
        '%Y-%m-%d %H:%M:%S UTC')


def _tfrecords(records: List[bytes]) -> bytes:
    """The records framed as TFRecords: each one's length, the length's masked CRC-32C, the
    record, and its masked CRC-32C (as Beam's and TensorFlow's TFRecord writers frame it)."""
    framed = []
    for record in records:
        framed += (_length_header(len(record)), record, _masked_crc(record))
    return b''.join(framed)


@functools.lru_cache(maxsize=1 << 12)
def _length_header(length: int) -> bytes:
    """A record's length and its masked CRC: the examples' few hundred lengths recur."""
    encoded = struct.pack('<Q', length)
    return encoded + _masked_crc(encoded)


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return _CRC.pack((((crc >> 15) | (crc << 17)) + 0xa282ead8) & 0xffffffff)


_CRC = struct.Struct('<I')


class _GzipFile:
    """A writable file that gzips what it is given at zlib's fastest level (a third of the
    default level's time, for files about a quarter larger), on a thread of its own: zlib
    lets go of Python's lock while it compresses, so the next examples are made meanwhile.
    """

    def __init__(self, raw):
        self._raw = raw
        self._compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self._pending = queue.Queue(maxsize=4)  # the writes not yet compressed; None ends
        self._error = None
        self._thread = threading.Thread(target=self._compress, daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        self._raise_error()
        self._pending.put(data)

    def close(self) -> None:
        self._pending.put(None)
        self._thread.join()
        self._raise_error()
        self._raw.close()

    def _compress(self) -> None:
        data = b''
        try:
            while (data := self._pending.get()) is not None:
                self._raw.write(self._compressor.compress(data))
            self._raw.write(self._compressor.flush())
        except BaseException as error:  # pylint: disable=broad-except
            self._error = error  # raised in the writing thread, by its next call
            # Until close()'s None, so that no write blocks on a full queue; not if the
            # final flush failed, after it, when nothing more would come.
            while data is not None:
                data = self._pending.get()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error


class _TFRecordBatchSink(filebasedsink.FileBasedSink):
    """Beam's gzipped TFRecord sink, for lists of records: each list is framed as TFRecords
    and compressed in one call."""

    def __init__(self, file_path_prefix: str):
        super().__init__(file_path_prefix, coder=None, file_name_suffix='.gz',
                         mime_type='application/octet-stream',
                         compression_type=filesystem_io.CompressionTypes.UNCOMPRESSED)

    def open(self, temp_path):
        return _GzipFile(super().open(temp_path))

    def write_record(self, file_handle, records: List[bytes]) -> None:
        file_handle.write(_tfrecords(records))


@beam.ptransform_fn
def _WriteSplitAsMade(batches: beam.pvalue.PCollection, split_uri: str) -> beam.pvalue.PDone:
    """TFX's WriteSplit for TFRecords, without its Reshuffle: the same files (gzipped
    TFRecords named data_tfrecord-SSSSS-of-NNNNN.gz), written per bundle.

    Without a fixed number of shards, Beam's file sink groups only the names of the files
    it wrote, never the records.
    """
    return batches | 'Write' >> beam.io.Write(_TFRecordBatchSink(
        os.path.join(split_uri, write_split.DEFAULT_TF_RECORD_FILE_NAME)))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Reads MovieLens (GroupLens files or TFDS) and writes the train/eval/test examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        # The base class calls this only from its GenerateExamplesByBeam, overridden here.
        raise NotImplementedError('MovieLensExampleGen reads in GenerateExamplesByBeam')

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                               exec_properties: Dict[str, Any]
                               ) -> Dict[str, beam.pvalue.PCollection]:
        settings, buckets = _settings_and_buckets(exec_properties)
        batches = _batches_by_split(pipeline, _plan(settings), settings, buckets)
        return {split: batches[split] | f'Unbatch[{split}]' >> beam.FlatMap(lambda batch: batch)
                for split in features.SPLITS}

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        """The base class's Do, but the splits stream from parsing to their files.

        The base class writes each split through TFX's WriteSplit, whose Reshuffle is a
        GroupByKey over every example: Beam's in-memory DirectRunner buffers the whole
        split before it writes a record, so memory grows with the data (about 2 GB at 1M
        ratings). Nothing here needs that shuffle: the Trainer shuffles its input. The
        output is what the base class writes: the same split_names, Split-<name> folders,
        data_tfrecord-*.gz file names and payload_format and file_format properties.
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        examples_artifacts = output_dict[standard_component_specs.EXAMPLES_KEY]
        examples_artifact = artifact_utils.get_single_instance(examples_artifacts)
        examples_artifact.split_names = artifact_utils.encode_split_names(
            example_gen_utils.generate_output_split_names(input_config, output_config))
        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if payload_format == example_gen_pb2.PayloadFormat.FORMAT_PARQUET:
            raise ValueError('MovieLensExampleGen writes tf.Examples in TFRecords; '
                             'drop the Parquet output_data_format')
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY,
                                          example_gen_pb2.FILE_FORMAT_UNSPECIFIED)
        file_format_name = write_split.to_file_format_str(file_format)  # fails before a run

        settings, buckets = _settings_and_buckets(exec_properties)
        plan = _plan(settings)
        outcome_path = os.path.join(examples_artifact.uri, _OUTCOME_FILE)
        logging.info('Generating examples.')
        with self._make_beam_pipeline() as pipeline:
            outputs = _batches_by_split(pipeline, plan, settings, buckets)
            for split in features.SPLITS:
                outputs[split] | f'WriteSplit[{split}]' >> _WriteSplitAsMade(
                    artifact_utils.get_split_uri(examples_artifacts, split))
            outputs[_OUTCOME] | 'WriteOutcome' >> _WriteOutcome(outcome_path)
        for artifact in examples_artifacts:
            if payload_format:
                examples_utils.set_payload_format(artifact, payload_format)
            if file_format:
                examples_utils.set_file_format(artifact, file_format_name)
        logging.info('Examples generated.')

        outcome = _read_outcome(outcome_path)
        examples_artifact.set_int_custom_property(contract.SKIPPED_ROWS_PROPERTY,
                                                  outcome.skipped_rows)
        examples_artifact.set_string_custom_property(contract.FORMAT_PROPERTY,
                                                     plan.data_format)
        examples_artifact.set_string_custom_property(contract.SPLIT_PROPERTY,
                                                     settings.split_kind)
        logging.info('MovieLens examples (%s format, %s split): %s.', plan.data_format,
                     settings.split_kind, ', '.join(
                         f'{count} {split}' for split, count in outcome.examples.items()))
        if outcome.skipped_rows:
            logging.warning('Skipped %d bad rating rows (%s); the first: %s',
                            outcome.skipped_rows, errors.SKIP_BAD_ROWS_FLAG,
                            '; '.join(outcome.skip_reasons))
        if not sum(outcome.examples.values()):
            skipped = (f'all {outcome.skipped_rows} rating rows were bad, e.g. '
                       f'{"; ".join(outcome.skip_reasons)}' if outcome.skipped_rows
                       else 'the input holds no ratings')
            raise BadInputError(f'no examples were written: {skipped}. Fix the input, or point '
                                f'{errors.DATA_DIR_FLAG} at other MovieLens data.')
        if settings.split == contract.SPLIT_TIME:
            eval_start = outcome.split_starts[features.EVAL_SPLIT]
            test_start = outcome.split_starts[features.TEST_SPLIT]
            examples_artifact.set_int_custom_property(contract.EVAL_START_PROPERTY, eval_start)
            examples_artifact.set_int_custom_property(contract.TEST_START_PROPERTY, test_start)
            logging.info('Split by time: eval from %s, test from %s.', _utc(eval_start),
                         _utc(test_start))


def _settings_and_buckets(exec_properties: Mapping[str, Any]) -> Tuple[Settings, List[int]]:
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    return Settings.from_exec_properties(exec_properties), _split_buckets(output_config)
