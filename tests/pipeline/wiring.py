"""The pipeline as local_runner.py builds it from its default flags, for tests that inspect
or compile the wiring without running it."""
from components.baseline_resolver import LatestBlessedOtherModelStrategy
from pipeline import configs, flags
from pipeline import pipeline as pipeline_module

import local_runner

# A bucket path: the ExampleGen checks it only when it runs.
DATA_PATH = 'gs://bucket/ml-100k'


def build(argv=(), **overrides):
    """create_pipeline with local_runner's settings for `argv`, the given arguments replaced."""
    arguments = dict(
        flags.pipeline_arguments(local_runner.parse_args(list(argv))),
        pipeline_root='/unused/root', data_path=DATA_PATH, serving_model_dir='/unused/serving',
        baseline_strategy=LatestBlessedOtherModelStrategy,
        beam_pipeline_args=list(configs.BEAM_PIPELINE_ARGS))
    arguments.update(overrides)
    return pipeline_module.create_pipeline(**arguments)
