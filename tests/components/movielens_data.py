"""Test data for the MovieLens ExampleGen: small GroupLens folders, written by hand or
converted from the generator's, and an in-process run of the executor that reads the
written examples back."""
import dataclasses
import glob
import os
import random
import zipfile
from typing import Any, Dict, List, Optional, Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.runners.runner import PipelineRunner
from google.protobuf import message
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.movielens import contract
from components.movielens.component import MovieLensExampleGen
from components.movielens.executor import Executor
from models import features
from pipeline import configs

# A hand-written 100K-format data set small enough to reason about line by line.
MOVIE_LINES = [
    '1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|'
    '0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0',
    '2|GoldenEye (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?GoldenEye%20(1995)|'
    '0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0',
    '543|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Mis%E9rables|'
    '0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0',
]
USER_LINES = [
    '1|24|M|technician|85711',
    '2|53|F|other|94043',
    '3|17|M|student|32067',
]
RATING_LINES = [
    '1\t1\t5\t874965758',
    '1\t2\t3\t876893171',
    '2\t543\t4\t878542960',
    '3\t1\t1\t876892818',
    '3\t543\t2\t889751712',
    '2\t2\t5\t875071561',
]

# 100K occupation -> 1M occupation code, for converting generated folders to the 1M format.
OCCUPATION_CODES = {
    'administrator': 3, 'artist': 2, 'doctor': 6, 'educator': 1, 'engineer': 17,
    'entertainment': 0, 'executive': 7, 'healthcare': 6, 'homemaker': 9, 'lawyer': 11,
    'librarian': 0, 'marketing': 14, 'none': 0, 'other': 0, 'programmer': 12, 'retired': 13,
    'salesman': 14, 'scientist': 15, 'student': 4, 'technician': 17, 'writer': 20}


def write_folder(directory: str, ratings: Sequence[str] = RATING_LINES,
                 movies: Sequence[str] = MOVIE_LINES, users: Sequence[str] = USER_LINES,
                 movie_encoding: str = 'latin-1') -> str:
    """A 100K-format folder from lines (None leaves a file out)."""
    os.makedirs(directory, exist_ok=True)
    for name, lines, encoding in (('u.data', ratings, 'ascii'),
                                  ('u.item', movies, movie_encoding),
                                  ('u.user', users, 'ascii')):
        if lines is not None:
            with open(os.path.join(directory, name), 'w', encoding=encoding,
                      newline='\n') as stream:
                stream.write(''.join(line + '\n' for line in lines))
    return directory


def with_line(lines: Sequence[str], line_number: int, line: str) -> List[str]:
    """lines with the 1-based line_number replaced."""
    changed = list(lines)
    changed[line_number - 1] = line
    return changed


def with_fields(line: str, **changes) -> str:
    """A u.data line with some of its fields (user, movie, rating, timestamp) replaced."""
    fields = dict(zip(('user', 'movie', 'rating', 'timestamp'), line.split('\t')))
    fields.update(changes)
    return '\t'.join(fields.values())


def read_lines(path: str):
    """A GroupLens file's lines; latin-1 reads any of them."""
    with open(path, encoding='latin-1') as f:
        return f.read().splitlines()


def write_lines(path: str, lines) -> None:
    with open(path, 'w', encoding='latin-1', newline='\n') as f:
        f.write(''.join(line + '\n' for line in lines))


def to_1m_format(source: str, target: str, seed: int = 0) -> str:
    """The 100K-format folder `source` rewritten in the 1M format, ratings shuffled."""
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(source, 'u.data'), encoding='ascii') as stream:
        ratings = [line.split('\t') for line in stream.read().splitlines()]
    random.Random(seed).shuffle(ratings)
    with open(os.path.join(target, 'ratings.dat'), 'w', encoding='ascii') as stream:
        stream.writelines('::'.join(fields) + '\n' for fields in ratings)
    with open(os.path.join(source, 'u.item'), encoding='latin-1') as stream, \
            open(os.path.join(target, 'movies.dat'), 'w', encoding='latin-1') as output:
        for line in stream.read().splitlines():
            fields = line.split('|')
            genres = [genre if genre != 'Children' else "Children's"
                      for genre, flag in zip(features.GENRES, fields[5:]) if flag == '1']
            output.write(f'{fields[0]}::{fields[1]}::{"|".join(genres)}\n')
    with open(os.path.join(source, 'u.user'), encoding='ascii') as stream, \
            open(os.path.join(target, 'users.dat'), 'w', encoding='ascii') as output:
        for line in stream.read().splitlines():
            user_id, age, gender, occupation, zip_code = line.split('|')
            bucket = max(b for b in features.AGE_BUCKETS if b <= max(int(age), 1))
            output.write(f'{user_id}::{gender}::{bucket}::{OCCUPATION_CODES[occupation]}::'
                         f'{zip_code}\n')
    return target


def zip_folder(folder: str, zip_path: str, top: str = 'ml-100k') -> str:
    """A zip of the folder's files under `top`/, as GroupLens ships them."""
    with zipfile.ZipFile(zip_path, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(os.listdir(folder)):
            if not name.startswith('.'):
                archive.write(os.path.join(folder, name), f'{top}/{name}')
    return zip_path


def exec_properties(component: MovieLensExampleGen) -> Dict[str, Any]:
    """The component's exec properties as the TFX launcher hands them to the executor."""
    return {key: proto_utils.proto_to_json(value) if isinstance(value, message.Message)
            else value for key, value in component.exec_properties.items()}


@dataclasses.dataclass
class Run:
    """One executor run: its output artifact and the examples it wrote, by split."""
    artifact: standard_artifacts.Examples
    examples: Dict[str, List[Dict[str, list]]]

    def ids(self, split: str) -> List[tuple]:
        """(user id, movie id) of the split's examples, sorted."""
        return sorted((example[features.USER_ID][0], example[features.MOVIE_ID][0])
                      for example in self.examples[split])

    def all_examples(self) -> List[Dict[str, list]]:
        return [example for split in features.SPLITS for example in self.examples[split]]

    @property
    def skipped_rows(self) -> int:
        return self.artifact.get_int_custom_property('skipped_rows')


def example_gen(data_path: str, **overrides) -> MovieLensExampleGen:
    """The component with the pipeline's default settings, some of them replaced."""
    arguments = dict(source=contract.GROUPLENS, split_buckets=configs.SPLIT_BUCKETS)
    if overrides.get('source') == contract.TFDS:
        arguments['tfds_name'] = configs.DEFAULT_TFDS_NAME
    arguments.update(overrides)
    return MovieLensExampleGen(data_path=data_path, **arguments)


def run_executor(output_dir: str, data_path: str,
                 read_features: Optional[Sequence[str]] = None,
                 runner: Optional[PipelineRunner] = None, **component_args) -> Run:
    """Runs the executor in-process, as the TFX launcher would, and reads its output
    (only read_features, if given). `runner`: the Beam runner, else the executor's own."""
    component = example_gen(data_path, **component_args)
    artifact = standard_artifacts.Examples()
    artifact.uri = output_dir
    context = runner and base_beam_executor.BaseBeamExecutor.Context(
        make_beam_pipeline_fn=lambda: beam.Pipeline(runner=runner))
    Executor(context).Do({}, {'examples': [artifact]}, exec_properties(component))
    return Run(artifact, {split: read_examples(output_dir, split, read_features)
                          for split in features.SPLITS})


_READ_BATCH = 10000


def read_examples(output_dir: str, split: str,
                  names: Optional[Sequence[str]] = None) -> List[Dict[str, list]]:
    """The examples of one split, as {feature: [values]} with strings decoded."""
    files = glob.glob(os.path.join(output_dir, f'Split-{split}', '*.gz'))
    assert files, f'no output files for split {split} in {output_dir}'
    examples = []
    # In batches: one step of a dataset iterator costs far more than parsing one example.
    batches = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(_READ_BATCH)
    for records in batches.as_numpy_iterator():
        for record in records:
            feature_map = tf.train.Example.FromString(record).features.feature
            examples.append({name: _values(feature_map[name]) for name in names or feature_map
                             if name in feature_map})
    return examples


def _values(feature: tf.train.Feature) -> list:
    if feature.HasField('bytes_list'):
        return [value.decode('utf-8') for value in feature.bytes_list.value]
    if feature.HasField('int64_list'):
        return list(feature.int64_list.value)
    return list(feature.float_list.value)
