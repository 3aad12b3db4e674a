"""Rows per second of MovieLensExampleGen alone: its executor, in-process, on one folder.

    python benchmarks/example_gen_speed.py --data-dir path/to/ml-100k
    python benchmarks/example_gen_speed.py --synthetic 1000000 --synthetic-format csv \\
        --checkout OLD --checkout NEW --rounds 2

Runs the executor as the pipeline configures it (the default hash split, the pipeline's
Beam arguments) in a fresh process per round, writing to a temporary dir, and times its Do
alone: imports excluded, Beam's pipeline construction included. Synthetic files are written
once, before any round (to --work-dir, reused when there).

Given several --checkout, the rounds take them in turns, each checkout's code on the same
files, so that a shared machine's load falls on each alike. Prints each round's seconds,
then one JSON line per checkout with the median.
"""
import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time

import in_turns


def run_once(data_dir: str) -> dict:
    """Runs the executor once on data_dir; returns its seconds and the examples written."""
    import tensorflow as tf
    from google.protobuf import message
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from components.movielens import contract
    from components.movielens.component import MovieLensExampleGen
    from components.movielens.executor import Executor
    from pipeline import configs

    component = MovieLensExampleGen(data_path=data_dir, source=contract.GROUPLENS,
                                    split_buckets=configs.SPLIT_BUCKETS)
    # The exec properties as the TFX launcher hands them to the executor.
    exec_properties = {key: proto_utils.proto_to_json(value)
                       if isinstance(value, message.Message) else value
                       for key, value in component.exec_properties.items()}
    with tempfile.TemporaryDirectory() as work:
        artifact = standard_artifacts.Examples()
        artifact.uri = work
        executor = Executor(base_beam_executor.BaseBeamExecutor.Context(
            beam_pipeline_args=list(configs.BEAM_PIPELINE_ARGS), tmp_dir=work))
        start = time.perf_counter()
        executor.Do({}, {'examples': [artifact]}, exec_properties)
        seconds = time.perf_counter() - start
        files = glob.glob(os.path.join(work, 'Split-*', '*.gz'))
        records = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(65536)
        examples = int(records.reduce(0, lambda count, batch: count + tf.shape(batch)[0]))
    return {'seconds': seconds, 'examples': examples}


def synthetic_folder(work_dir: str, ratings: int, data_format: str) -> str:
    sys.path.insert(0, in_turns.CHECKOUT)
    from datasets import synthetic
    directory = os.path.join(work_dir, f'{data_format}-{ratings}-ratings')
    return synthetic.write_grouplens(directory, ratings, seed=42, data_format=data_format)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--data-dir', help='A GroupLens folder or zip, e.g. ml-100k.')
    source.add_argument('--synthetic', type=int, metavar='N', help='N synthetic ratings.')
    parser.add_argument('--synthetic-format', default='csv',
                        help='The release format of the synthetic files (default: csv).')
    parser.add_argument('--work-dir', default=os.path.join(tempfile.gettempdir(),
                                                           'example-gen-speed'),
                        help='Where synthetic files are written and kept.')
    in_turns.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.once:
        print(json.dumps(run_once(args.data_dir)))
        return 0
    data_dir = (os.path.abspath(args.data_dir) if args.data_dir else
                synthetic_folder(args.work_dir, args.synthetic, args.synthetic_format))

    def show(checkout, line):
        result = json.loads(line)
        print(f'{checkout}: {result["seconds"]:.1f} s, '
              f'{result["examples"] / result["seconds"]:,.0f} rows/s', flush=True)

    for checkout, lines in in_turns.run(__file__, ['--data-dir', data_dir], args, show).items():
        results = [json.loads(line) for line in lines]
        seconds = [r['seconds'] for r in results]
        median = statistics.median(seconds)
        print(json.dumps({'checkout': checkout, 'data_dir': data_dir, 'seconds': seconds,
                          'median_s': round(median, 2), 'examples': results[0]['examples'],
                          'rows_per_s': round(results[0]['examples'] / median)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
