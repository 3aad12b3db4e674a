"""MovieLensExampleGen: the TFX component that turns MovieLens ratings into examples.

It is a FileBasedExampleGen, so TFX's driver fingerprints the input files (size and
modification time) and a cached run is reused only while the data is unchanged.
"""
import numbers
import os
from typing import Optional, Sequence

from tfx.components.example_gen import component
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components import filesystem
from components.movielens import contract, executor
from models import features


class MovieLensExampleGen(component.FileBasedExampleGen):
    """Reads MovieLens ratings, joined with movies, users and tags where the release has
    them, into train/eval/test examples.

    Output: `examples`, a standard Examples artifact with the splits of features.SPLITS and
    the custom properties named in contract.py: `skipped_rows` (bad rating rows dropped; 0
    unless skip_bad_rows), `format` (the release's format, detected from its files), `split`
    (hash, time or predefined) and, for the time split, the first timestamps of eval and
    test.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self,
                 data_path: str,
                 source: str,
                 split_buckets: Sequence[int],
                 tfds_name: Optional[str] = None,
                 predefined_split: Optional[str] = None,
                 skip_bad_rows: bool = False,
                 split: str = contract.SPLIT_HASH):
        """Args:
          data_path: a GroupLens release's folder or .zip (100K, 1M, 10M or CSV format), or
            for source 'tfds' the TFDS data_dir in which tfds_name is prepared. A local path
            is checked now; a URI (gs://...) only when the executor runs, so that the
            pipeline compiles where the bucket cannot be read.
          source: contract.GROUPLENS or contract.TFDS.
          split_buckets: relative sizes of the train, eval and test splits.
          tfds_name: with source TFDS, one of contract.TFDS_NAMES.
          predefined_split: one of contract.PREDEFINED_SPLITS: ML-100K's 'u1'..'u5', 'ua',
            'ub' (files uN.base, uN.test) or ML-10M's 'r1'..'r5', 'ra', 'rb' (rN.train,
            rN.test). The test file is the test split, and the other is split into train
            and eval by hash.
          skip_bad_rows: drop and count bad rating rows instead of failing.
          split: contract.SPLIT_HASH (by a hash of user and movie) or SPLIT_TIME (at global
            timestamp quantiles, so that test is the future).
        """
        if not filesystem.is_uri(data_path):
            # The executor may run in another working directory.
            data_path = os.path.abspath(data_path)
        settings = executor.Settings(data_path=data_path, source=source, tfds_name=tfds_name,
                                     predefined_split=predefined_split, split=split,
                                     skip_bad_rows=skip_bad_rows)
        output_config = _output_config(split_buckets)
        input_base, pattern = executor.input_location(settings)
        super().__init__(
            input_base=input_base,
            input_config=example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(name='ratings', pattern=pattern)]),
            output_config=output_config,
            custom_config=settings.to_custom_config())


def _output_config(split_buckets: Sequence[int]) -> example_gen_pb2.Output:
    """The three output splits, sized by their hash buckets."""
    buckets = list(split_buckets)
    if len(buckets) != len(features.SPLITS) or any(
            not isinstance(bucket, numbers.Integral) or bucket <= 0 for bucket in buckets):
        raise ValueError(f'split_buckets {buckets} must be {len(features.SPLITS)} positive '
                         f'whole numbers, the sizes of {", ".join(features.SPLITS)}')
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=int(bucket))
        for name, bucket in zip(features.SPLITS, buckets)]))
