"""The Beam executor of MovieLensExampleGen: MovieLens ratings in, train/eval/test out.

It overrides GenerateExamplesByBeam rather than GetInputSourceToExamplePTransform: the base
class would read the input once per split, and split by a hash of the serialised example.
Here the ratings are read and parsed once, joined with their movie and user, and split by a
hash of the (user id, movie id) pair. It also overrides Do, to write the examples as they
are made rather than through the base class's shuffle (see Executor.Do).
"""
import collections
import dataclasses
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from absl import logging
import apache_beam as beam
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.runners.runner import PipelineResult
from google.protobuf import any_pb2
from google.protobuf import json_format
from google.protobuf import struct_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components import filesystem
from components.movielens import errors
from components.movielens import grouplens
from components.movielens import splits
from components.movielens import tf_examples
from components.movielens import tfds_source
from components.movielens.contract import (GROUPLENS, PREDEFINED_SPLITS, SKIPPED_ROWS_PROPERTY,
                                          TFDS, TFDS_NAMES)
from components.movielens.errors import BadInputError
from models import features

_METRICS_NAMESPACE = 'MovieLensExampleGen'
_SKIPPED_ROWS = 'skipped_rows'
_SKIP_REASONS = 'skip_reasons'
_EXAMPLES_PREFIX = 'examples_'
# Each shard reports its first few skip reasons, and the log shows the first few of those:
# enough to see what is wrong without flooding the log or the metrics.
_REASONS_PER_SHARD = 5
_REASONS_LOGGED = 5

# What the rows of a shard are: all ratings, or the base or test file of a predefined split.
_ALL_ROWS = 'all'
_BASE_ROWS = 'base'
_TEST_ROWS = 'test'

Splitter = Callable[[str, str], str]


@dataclasses.dataclass(frozen=True)
class Settings:
    """What MovieLensExampleGen reads; it travels to the executor in custom_config.

    The runners' flags admit only valid settings, so a ValueError here is a wiring mistake.
    """
    data_path: str
    source: str
    tfds_name: Optional[str] = None  # with source TFDS
    predefined_split: Optional[str] = None
    skip_bad_rows: bool = False

    def __post_init__(self):
        if not self.data_path:
            raise ValueError('MovieLensExampleGen needs a data_path')
        if self.source not in (GROUPLENS, TFDS):
            raise ValueError(f'source {self.source!r} is not {GROUPLENS!r} or {TFDS!r}')
        if self.source == TFDS:
            if (self.tfds_name or '').partition(':')[0] not in TFDS_NAMES:
                raise ValueError(f'tfds_name {self.tfds_name!r} is not one of '
                                 f'{", ".join(TFDS_NAMES)}')
            if self.predefined_split:
                raise ValueError('a predefined split needs the GroupLens files (uN.base, '
                                 'uN.test); the TFDS source has none')
        if self.predefined_split and self.predefined_split not in PREDEFINED_SPLITS:
            raise ValueError(f'predefined split {self.predefined_split!r} is not one of '
                             f'{", ".join(PREDEFINED_SPLITS)}')

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


def _splitters(output_config: example_gen_pb2.Output,
               predefined_split: Optional[str]) -> Dict[str, Splitter]:
    """How each kind of rows is split, from the output config's split names and buckets."""
    names = tuple(split.name for split in output_config.split_config.splits)
    buckets = [split.hash_buckets for split in output_config.split_config.splits]
    if names != features.SPLITS:
        raise ValueError(f'the output splits are {list(names)}; MovieLensExampleGen '
                         f'writes {list(features.SPLITS)}')
    if predefined_split:
        # The base file holds train and eval, in the ratio of their buckets.
        return {_BASE_ROWS: splits.HashSplitter(names[:2], buckets[:2]),
                _TEST_ROWS: splits.FixedSplit(features.TEST_SPLIT)}
    return {_ALL_ROWS: splits.HashSplitter(names, buckets)}


class _ToExamples(beam.DoFn):
    """Turns rows into serialised tf.Examples, each tagged with its split."""

    def __init__(self, splitters: Mapping[str, Splitter]):
        super().__init__()
        self._splitters = dict(splitters)
        self._counters = {split: Metrics.counter(_METRICS_NAMESPACE, _EXAMPLES_PREFIX + split)
                          for split in features.SPLITS}

    def _tagged_example(self, role: str, rating: grouplens.Rating, movie, user):
        split = self._splitters[role](rating.user_id, rating.movie_id)
        self._counters[split].inc()
        return beam.pvalue.TaggedOutput(split, tf_examples.rating_example(
            rating.user_id, rating.movie_id, rating.rating, rating.timestamp, movie, user))


class _GroupLensShardToExamples(_ToExamples):
    """Parses one shard of a GroupLens ratings file and joins it with movies and users."""

    def __init__(self, layout: grouplens.Layout, movies: Dict[str, grouplens.Movie],
                 users: Dict[str, grouplens.User], splitters: Mapping[str, Splitter],
                 skip_bad_rows: bool):
        super().__init__(splitters)
        self._separator = layout.separator
        self._movie_file = layout.movies.name
        self._user_file = layout.users.name
        self._movies = movies
        self._users = users
        self._skip_bad_rows = skip_bad_rows
        self._skipped = Metrics.counter(_METRICS_NAMESPACE, _SKIPPED_ROWS)
        self._reasons = Metrics.string_set(_METRICS_NAMESPACE, _SKIP_REASONS)

    def setup(self):
        self._movie_features = {movie_id: tf_examples.movie_features(**movie._asdict())
                                for movie_id, movie in self._movies.items()}
        self._user_features = {user_id: tf_examples.user_features(**user._asdict())
                               for user_id, user in self._users.items()}

    def process(self, shard: grouplens.Shard):
        reasons_reported = 0
        for line_number, text in grouplens.read_shard(shard):
            rating = grouplens.parse_rating(text, self._separator)
            problem = rating if isinstance(rating, str) else self._join_problem(rating)
            if problem:
                if not self._skip_bad_rows:
                    raise errors.bad_row(shard.file.name, line_number, problem)
                self._skipped.inc()
                if reasons_reported < _REASONS_PER_SHARD:
                    self._reasons.add(f'{shard.file.name} line {line_number}: {problem}')
                    reasons_reported += 1
                continue
            yield self._tagged_example(shard.role, rating,
                                       self._movie_features[rating.movie_id],
                                       self._user_features[rating.user_id])

    def _join_problem(self, rating: grouplens.Rating) -> Optional[str]:
        if rating.movie_id not in self._movies:
            return f'movie id {errors.quote(rating.movie_id)} is not in {self._movie_file}'
        if rating.user_id not in self._users:
            return f'user id {errors.quote(rating.user_id)} is not in {self._user_file}'
        return None


class _TfdsReadToExamples(_ToExamples):
    """Reads one part of a prepared TFDS MovieLens split."""

    def __init__(self, settings: Settings, splitters: Mapping[str, Splitter]):
        super().__init__(splitters)
        self._data_dir = settings.data_path
        self._tfds_name = settings.tfds_name

    def process(self, split: str):
        for rating, movie, user in tfds_source.read_ratings(self._data_dir, self._tfds_name,
                                                            split):
            yield self._tagged_example(_ALL_ROWS, rating,
                                       tf_examples.movie_features(**movie._asdict()),
                                       tf_examples.user_features(**user._asdict()))


def _plan_grouplens(settings: Settings, splitters: Mapping[str, Splitter]
                    ) -> Tuple[List[grouplens.Shard], beam.DoFn]:
    """Reads the small tables and plans the ratings shards, on the driver."""
    layout = grouplens.locate(settings.data_path)
    movies = grouplens.read_movies(layout)
    users = grouplens.read_users(layout)
    if settings.predefined_split:
        base, test = layout.predefined_split(settings.predefined_split)
        shards = (grouplens.plan_shards(base, _BASE_ROWS) +
                  grouplens.plan_shards(test, _TEST_ROWS))
    else:
        shards = grouplens.plan_shards(layout.ratings, _ALL_ROWS)
    logging.info('MovieLens %s data in %s: %d movies, %d users, ratings in %d shards.',
                 layout.format.upper(), layout.folder, len(movies), len(users), len(shards))
    return shards, _GroupLensShardToExamples(layout, movies, users, splitters,
                                             settings.skip_bad_rows)


@dataclasses.dataclass
class _Outcome:
    """What the Beam pipeline counted."""
    examples: Dict[str, int]
    skipped_rows: int
    skip_reasons: List[str]


def _outcome(result: PipelineResult) -> _Outcome:
    query = result.metrics().query(MetricsFilter().with_namespace(_METRICS_NAMESPACE))

    def value(metric):
        # Some runners only report attempted values.
        return metric.committed if metric.committed is not None else metric.attempted

    counters = collections.Counter()
    for counter in query['counters']:
        counters[counter.key.metric.name] += value(counter)
    reasons = set()
    for string_set in query.get('string_sets', []):
        reasons |= set(value(string_set))
    return _Outcome(
        examples={split: counters[_EXAMPLES_PREFIX + split] for split in features.SPLITS},
        skipped_rows=counters[_SKIPPED_ROWS],
        skip_reasons=sorted(reasons, key=_line_order)[:_REASONS_LOGGED])


def _line_order(reason: str) -> Tuple[str, int]:
    """Orders reasons 'FILE line N: ...' by file, then by line number."""
    file_name, _, rest = reason.partition(' line ')
    number = rest.partition(':')[0]
    return file_name, int(number) if number.isdigit() else 0


@beam.ptransform_fn
def _WriteSplitAsMade(examples: beam.pvalue.PCollection, split_uri: str) -> beam.pvalue.PDone:
    """TFX's WriteSplit for TFRecords, without its Reshuffle: the same files, written per bundle.

    WriteToTFRecord without num_shards groups only the names of the files it wrote, never
    the records.
    """
    return (examples
            | 'MaybeSerialize' >> beam.ParDo(write_split.MaybeSerialize())
            | 'Write' >> beam.io.WriteToTFRecord(
                os.path.join(split_uri, write_split.DEFAULT_TF_RECORD_FILE_NAME),
                file_name_suffix='.gz'))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Reads MovieLens (GroupLens files or TFDS) and writes the train/eval/test examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        # The base class calls this only from its GenerateExamplesByBeam, overridden here.
        raise NotImplementedError('MovieLensExampleGen reads in GenerateExamplesByBeam')

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                               exec_properties: Dict[str, Any]
                               ) -> Dict[str, beam.pvalue.PCollection]:
        settings = Settings.from_exec_properties(exec_properties)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        splitters = _splitters(output_config, settings.predefined_split)
        if settings.source == TFDS:
            work = tfds_source.plan_reads(settings.data_path, settings.tfds_name)
            to_examples = _TfdsReadToExamples(settings, splitters)
        else:
            work, to_examples = _plan_grouplens(settings, splitters)
        examples = (pipeline
                    | 'PlanReads' >> beam.Create(work)
                    # Lets a distributed runner read the shards in parallel.
                    | 'SpreadReads' >> beam.Reshuffle()
                    | 'ToExamples' >> beam.ParDo(to_examples).with_outputs(*features.SPLITS))
        return {split: examples[split] for split in features.SPLITS}

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

        logging.info('Generating examples.')
        with self._make_beam_pipeline() as pipeline:
            for split, examples in self.GenerateExamplesByBeam(pipeline,
                                                               exec_properties).items():
                examples | f'WriteSplit[{split}]' >> _WriteSplitAsMade(
                    artifact_utils.get_split_uri(examples_artifacts, split))
        for artifact in examples_artifacts:
            if payload_format:
                examples_utils.set_payload_format(artifact, payload_format)
            if file_format:
                examples_utils.set_file_format(artifact, file_format_name)
        logging.info('Examples generated.')

        outcome = _outcome(pipeline.result)
        examples_artifact.set_int_custom_property(SKIPPED_ROWS_PROPERTY, outcome.skipped_rows)
        logging.info('MovieLens examples: %s.', ', '.join(
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
