"""Compiles the pipeline for Vertex AI Pipelines or open-source Kubeflow Pipelines; it runs
nothing.

    python kubeflow_runner.py --output pipeline.json --pipeline-root gs://bucket/root \\
        --image registry.example/movielens:1 --data-dir gs://bucket/ml-100k
    python kubeflow_runner.py --target kfp --output pipeline.yaml ...

It is local_runner.py's pipeline (the same create_pipeline) compiled by KubeflowV2DagRunner
into a pipeline file: every component runs in --image (built from the Dockerfile), and the
Beam components (ExampleGen, StatisticsGen, Transform, Evaluator) run Beam with --beam-arg,
Dataflow at scale. The platform provides ML Metadata. Compiling reads nothing remote and
needs no credentials. docs/kubeflow.md shows how to build the image and submit the file,
and what differs between the two targets.
"""
import argparse
import json
import os
import posixpath
import re
import sys
import warnings

import yaml

from components import filesystem
from components.movielens import contract
from pipeline import configs, flags

# Where the Dockerfile copies the project in the image (its WORKDIR).
IMAGE_PROJECT_DIR = '/pipeline'
# Not 'synthetic': local_runner.py writes that data on the machine that runs it, here the
# compiling machine, whose files no pod can read.
SOURCES = contract.SOURCES

VERTEX, KFP = 'vertex', 'kfp'
TARGETS = (VERTEX, KFP)
DEFAULT_OUTPUT = {VERTEX: 'pipeline.json', KFP: 'pipeline.yaml'}
# Every task's container command on open-source KFP: TFX's entrypoint behind ours, which
# mends what KFP's launcher gives it (components/kfp_entrypoint.py). Vertex AI runs TFX's
# own entrypoint, the compiler's default.
KFP_ENTRYPOINT_MODULE = 'components.kfp_entrypoint'
KFP_COMMAND = ['python', '-m', KFP_ENTRYPOINT_MODULE]
# KFP's Argo compiler names each DAG task after its pipeline task, and Argo accepts only
# these names (workflowFieldNameFmt and workflowFieldMaxLength in argo-workflows).
ARGO_TASK_NAME = re.compile(r'[a-zA-Z0-9][-a-zA-Z0-9]{0,127}')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--target', choices=TARGETS, default=VERTEX,
                        help="vertex: Vertex AI Pipelines. kfp: open-source Kubeflow Pipelines "
                             "2.x, which runs no resolver: the Evaluator's baseline is the "
                             "served model (see docs/kubeflow.md).")
    parser.add_argument('--output',
                        help='The compiled pipeline: .json is a Vertex AI PipelineJob, which '
                             'holds the pipeline root; .yaml the bare PipelineSpec, which '
                             "kfp.Client reads (--target kfp writes only this). Default: "
                             f"{DEFAULT_OUTPUT[VERTEX]} or {DEFAULT_OUTPUT[KFP]}.")
    parser.add_argument('--pipeline-root', required=True,
                        help='Where runs write their artifacts, e.g. gs://bucket/root; with '
                             '--target kfp, pass it again when submitting.')
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
    if args.output is None:
        args.output = DEFAULT_OUTPUT[args.target]
    if args.target == KFP and not args.output.endswith(('.yaml', '.yml')):
        parser.error(f'--output {args.output}: kfp.Client submits a PipelineSpec in YAML, not a '
                     'Vertex AI PipelineJob; name the file .yaml.')
    if args.target == KFP and not args.pipeline_root.startswith('gs://'):
        # KFP's launcher accepts object stores only, and TFX's file I/O reads GCS but not
        # minio:// or s3:// (no tensorflow-io in the image).
        parser.error(f'--pipeline-root {args.pipeline_root}: open-source KFP needs a gs:// '
                     'pipeline root, e.g. gs://BUCKET/root.')
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


def compile_for(target: str, pipeline, image: str) -> dict:
    """The compiled PipelineJob, as a dict, for Vertex AI or open-source KFP.

    KFP 2.x accepts only schema 2.1.0, whose parameters are the only ones its driver reads;
    Vertex AI takes either, and keeps TFX's default, 2.0.0.
    """
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from components.movielens.component import MovieLensExampleGen
    from components.served_baseline import LatestServedModel

    options = dict(use_pipeline_spec_2_1=True, default_commands=KFP_COMMAND) \
        if target == KFP else {}
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image,
                                                                **options))
    job = runner.run(pipeline, write_out=False)
    if target == KFP:
        tasks = job['pipelineSpec']['root']['dag']['tasks']
        # KFP's cache key is a task's parameters and input artifact ids, never what a path
        # holds, so it would reuse the examples of whatever --data-dir held first, and an
        # old baseline. These two tasks always run (docs/kubeflow.md, "Caching").
        for component in pipeline.components:
            if isinstance(component, (MovieLensExampleGen, LatestServedModel)):
                tasks[component.id].pop('cachingOptions', None)
        invalid = sorted(name for name in tasks if not ARGO_TASK_NAME.fullmatch(name))
        if invalid:
            raise ValueError(f'Task names {invalid} are not valid Argo task names '
                             f'({ARGO_TASK_NAME.pattern}), which KFP requires: give those '
                             'components ids of letters, digits and "-" (.with_id).')
    return job


def write(job: dict, path: str) -> None:
    """A .json file holds the PipelineJob; .yaml the PipelineSpec, as kfp.Client reads it."""
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        if path.endswith(('.yaml', '.yml')):
            yaml.safe_dump(job['pipelineSpec'], f, sort_keys=True)
        else:
            json.dump(job, f, sort_keys=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    # Google client libraries warn about Python 3.10 on import; TFX 1.16 requires it.
    warnings.filterwarnings('ignore', category=FutureWarning)
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
            # Open-source KFP runs no resolver: None is the served model.
            baseline_strategy=LatestBlessedModelStrategy if args.target == VERTEX else None,
            **flags.pipeline_arguments(args))
    except BadInputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2

    write(compile_for(args.target, pipeline, args.image), args.output)
    print(f'Compiled {configs.PIPELINE_NAME} for {args.target} to {args.output}: image '
          f'{args.image}, pipeline root {args.pipeline_root}, data {args.data_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
