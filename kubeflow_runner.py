"""Compiles the pipeline for Vertex AI Pipelines or Kubeflow Pipelines; it runs nothing.

    python kubeflow_runner.py --output pipeline.json --pipeline-root gs://bucket/root \\
        --image registry.example/movielens:1 --data-dir gs://bucket/ml-100k

It is local_runner.py's pipeline (the same create_pipeline) compiled by KubeflowV2DagRunner
into a pipeline file: every component runs in --image (built from the Dockerfile), and the
Beam components (ExampleGen, StatisticsGen, Transform, Evaluator) run Beam with --beam-arg,
Dataflow at scale. The platform provides ML Metadata. Compiling reads nothing remote and
needs no credentials. docs/kubeflow.md shows how to build the image and submit the file.
"""
import argparse
import os
import posixpath
import sys
import warnings

from components import filesystem
from components.movielens import contract
from pipeline import configs, flags

# Where the Dockerfile copies the project in the image (its WORKDIR).
IMAGE_PROJECT_DIR = '/pipeline'
# Not 'synthetic': local_runner.py writes that data on the machine that runs it, here the
# compiling machine, whose files no pod can read.
SOURCES = contract.SOURCES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output', default='pipeline.json',
                        help="The compiled pipeline: .json is a Vertex AI PipelineJob, .yaml a "
                             "PipelineSpec, the form Kubeflow Pipelines' kfp.Client reads.")
    parser.add_argument('--pipeline-root', required=True,
                        help='Where runs write their artifacts, e.g. gs://bucket/root.')
    parser.add_argument('--image', required=True,
                        help='The container image of every component, built from the '
                             'Dockerfile, e.g. us-docker.pkg.dev/project/repo/movielens:1.')
    parser.add_argument('--data-dir', required=True,
                        help='GroupLens folder or .zip (ml-100k or ml-1m format), or a TFDS '
                             'data dir with --source tfds, as the pods see it: usually '
                             'gs://bucket/ml-100k.')
    parser.add_argument('--serving-dir',
                        help='Where the Pusher exports blessed models. '
                             f'Default: <pipeline-root>/{configs.SERVING_MODEL_SUBDIR}.')
    parser.add_argument('--beam-arg', action='append', default=[], dest='beam_args',
                        help='Extra Beam pipeline argument, repeatable, e.g. '
                             '--beam-arg=--runner=DataflowRunner --beam-arg=--project=P '
                             '--beam-arg=--region=R --beam-arg=--temp_location=gs://bucket/tmp. '
                             'With DataflowRunner, the workers run --image unless '
                             '--sdk_container_image says otherwise.')
    flags.add_training_flags(parser, SOURCES)
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = flags.checked(parser, parser.parse_args(argv))
    if args.serving_dir is None:
        args.serving_dir = posixpath.join(args.pipeline_root, configs.SERVING_MODEL_SUBDIR)
    return args


def beam_pipeline_args(extra_args, image: str) -> list:
    """configs' defaults, then --beam-arg (Beam takes the last value of a repeated option).

    Dataflow workers need the project and its locked dependencies, which the stock Beam
    image lacks; so with DataflowRunner they run the components' image, unless the user
    chose another.
    """
    from apache_beam.options.pipeline_options import (PipelineOptions, StandardOptions,
                                                       WorkerOptions)

    args = list(configs.BEAM_PIPELINE_ARGS) + list(extra_args)
    # Beam's own parser: any spelling it accepts (--runner dataflow, --runner=DataflowRunner).
    options = PipelineOptions(args)
    runner = (options.view_as(StandardOptions).runner or '').lower()
    if runner.endswith('runner'):
        runner = runner[:-len('runner')]
    worker = options.view_as(WorkerOptions)
    if runner == 'dataflow' and not (worker.sdk_container_image
                                     or worker.worker_harness_container_image):
        args.append(f'--sdk_container_image={image}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # Google client libraries warn about Python 3.10 on import; TFX 1.16 requires it.
    warnings.filterwarnings('ignore', category=FutureWarning)
    from tfx import v1 as tfx
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
        LatestBlessedModelStrategy)

    from components.movielens.errors import BadInputError
    from pipeline import pipeline as pipeline_module

    if not filesystem.is_uri(args.data_dir):
        print(f'note: --data-dir {args.data_dir} is on this machine; every pod must see it at '
              'the same path (e.g. a mounted volume). Upload it to a bucket otherwise.',
              file=sys.stderr)
    try:
        pipeline = pipeline_module.create_pipeline(
            pipeline_root=args.pipeline_root,
            data_path=args.data_dir,
            serving_model_dir=args.serving_dir,
            # Vertex AI and Kubeflow Pipelines provide ML Metadata themselves.
            metadata_connection_config=None,
            beam_pipeline_args=beam_pipeline_args(args.beam_args, args.image),
            # KubeflowV2DagRunner compiles only TFX's own strategy into resolver tasks (it
            # compares the class with ==), and those run before the Trainer, so they cannot
            # leave out its model: an unchanged rerun re-evaluates the model against itself.
            baseline_strategy=LatestBlessedModelStrategy,
            **flags.pipeline_arguments(args))
    except BadInputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2

    output_dir, output_filename = os.path.split(args.output)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=args.image),
        output_dir=output_dir or None,
        output_filename=output_filename)
    runner.run(pipeline)
    print(f'Compiled {configs.PIPELINE_NAME} to {args.output}: image {args.image}, '
          f'pipeline root {args.pipeline_root}, data {args.data_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
