"""Test rows per second of the Evaluator alone, on the artifacts of a finished local run.

    python benchmarks/evaluator_speed.py --output-dir output
    python benchmarks/evaluator_speed.py --output-dir output --with-baseline --profile ev.prof
    python benchmarks/evaluator_speed.py --output-dir output --per-example
    python benchmarks/evaluator_speed.py --output-dir output --record-by-record

Runs the pipeline's Evaluator executor (TFX's, reading in batches), in this process, on the
run's newest ExampleGen examples (the test split) and Trainer model, with the pipeline's
eval_config and Beam arguments.
--with-baseline also passes the same model as the last blessed one, so that both model
specs (the candidate's `evaluate`, the baseline's `serving_default`) are scored, as in
every run after the first blessing. --per-example replaces the pipeline's batched slicing
(components/evaluator_extractors.py) with TFMA's own, and --record-by-record the batched
reader (components/batched_reads.py) with TFX's, to compare the two in one checkout.
--profile writes cProfile statistics of the run, to read with `python -m pstats`. Prints
the metrics and, as its last line, a JSON line.
"""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # CUDA plugin notices on a CPU machine

import argparse  # noqa: E402
import cProfile  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

# The project's packages live at the root of the checkout.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import models  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def newest(pipeline_root, component, output):
    """The newest artifact dir of a component's output, e.g. Trainer/model/<execution>."""
    dirs = glob.glob(os.path.join(pipeline_root, component, output, '*'))
    if not dirs:
        raise SystemExit(f'{pipeline_root}: no {component} {output}; finish a run first')
    return max(dirs, key=lambda path: int(os.path.basename(path)))


def test_split(examples_uri, limit, workdir):
    """(examples uri, rows): the run's own, or a copy of its first `limit` test rows."""
    import tensorflow as tf
    from models import features
    split = f'Split-{features.TEST_SPLIT}'
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, split, '*')))
    records = tf.data.TFRecordDataset(files, compression_type='GZIP')
    if not limit:
        return examples_uri, sum(1 for _ in records)
    copy = os.path.join(workdir, 'examples')
    os.makedirs(os.path.join(copy, split))
    rows = 0
    with tf.io.TFRecordWriter(os.path.join(copy, split, 'data.gz'), 'GZIP') as writer:
        for record in records.take(limit):
            writer.write(record.numpy())
            rows += 1
    return copy, rows


def all_metrics(evaluation_uri):
    """{model: {slice: {metric: value}}} of an evaluation, as strings and floats."""
    import tensorflow_model_analysis as tfma
    config = tfma.load_eval_result(evaluation_uri).config
    out = {}
    for spec in config.model_specs:
        result = tfma.load_eval_result(evaluation_uri, model_name=spec.name)
        out[spec.name] = {
            repr(tuple(slice_key)): {
                f'{output}/{sub_key}/{name}': value.get('doubleValue', repr(value))
                for output, by_sub_key in metrics.items()
                for sub_key, by_name in by_sub_key.items()
                for name, value in by_name.items()}
            for slice_key, metrics in result.slicing_metrics}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output-dir', required=True, help="A finished run's --output-dir.")
    parser.add_argument('--with-baseline', action='store_true',
                        help='Score the same model as the last blessed one, too.')
    parser.add_argument('--limit', type=int,
                        help='Evaluate only the first N test rows (a copy of them).')
    parser.add_argument('--per-example', action='store_true',
                        help="TFMA's own per-example slicing, not the pipeline's batched one "
                             '(components/evaluator_extractors.py), to compare the two.')
    parser.add_argument('--record-by-record', action='store_true',
                        help="TFX's own executor and reader, not the pipeline's batched one "
                             '(components/batched_reads.py), to compare the two.')
    parser.add_argument('--profile', help='Write cProfile statistics to this file.')
    parser.add_argument('--metrics-out',
                        help='Write every metric of every model and slice to this JSON file, '
                             'to compare two versions of the code.')
    args = parser.parse_args(argv)

    from google.protobuf import json_format
    from tfx.components.evaluator import executor as evaluator_executor
    from tfx.types import artifact_utils, standard_artifacts

    from components import batched_reads, evaluator_extractors
    from models import features
    from pipeline import configs
    from pipeline import pipeline as pipeline_module
    from runs import results
    from runs.output_dir import OutputDir

    root = OutputDir(args.output_dir).pipeline_root
    workdir = tempfile.mkdtemp(prefix='evaluator-speed-')
    examples = standard_artifacts.Examples()
    examples.uri, rows = test_split(newest(root, 'MovieLensExampleGen', 'examples'),
                                    args.limit, workdir)
    examples.split_names = artifact_utils.encode_split_names([features.TEST_SPLIT])
    model = standard_artifacts.Model()
    model.uri = newest(root, 'Trainer', 'model')
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = (os.path.join(workdir, 'evaluation'),
                                    os.path.join(workdir, 'blessing'))
    config = pipeline_module.eval_config(None, configs.RMSE_MIN_IMPROVEMENT, configs.SLICES,
                                         configs.EVAL_BATCH_SIZE)
    inputs = {'examples': [examples], 'model': [model]}
    if args.with_baseline:
        inputs['baseline_model'] = [model]
    executor_class = (evaluator_executor.Executor if args.record_by_record
                      else batched_reads.EvaluatorExecutor)
    executor = executor_class(evaluator_executor.Executor.Context(
        beam_pipeline_args=list(configs.BEAM_PIPELINE_ARGS), tmp_dir=workdir))

    properties = {'eval_config': json_format.MessageToJson(config),
                  'example_splits': json.dumps([features.TEST_SPLIT])}
    if not args.per_example:
        properties['module_path'] = evaluator_extractors.__name__

    def run():
        executor.Do(inputs, {'evaluation': [evaluation], 'blessing': [blessing]}, properties)

    started = time.perf_counter()
    if args.profile:
        cProfile.runctx('run()', globals(), locals(), args.profile)
    else:
        run()
    seconds = time.perf_counter() - started
    result = results.read_evaluation(evaluation)
    print(f'RMSE {result.rmse!r}  bias baseline {result.bias_baseline_rmse!r}  '
          f'slices {len(result.slices)}  blessed {blessing.get_int_custom_property("blessed")}')
    if args.metrics_out:
        with open(args.metrics_out, 'w') as out:
            json.dump(all_metrics(evaluation.uri), out, indent=1, sort_keys=True)
    print(json.dumps({'test_rows': rows, 'seconds': round(seconds, 1),
                      'rows_per_second': round(rows / seconds),
                      'with_baseline': args.with_baseline, 'per_example': args.per_example,
                      'record_by_record': args.record_by_record,
                      'rmse': result.rmse,
                      'bias_baseline_rmse': result.bias_baseline_rmse}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
