"""The Evaluator's baseline where no resolver runs: the model that is being served.

Open-source Kubeflow Pipelines 2.x refuses resolver tasks, so kubeflow_runner.py's `kfp`
target cannot ask ML Metadata for the last blessed model. What the Pusher wrote is the
truth anyway: LatestServedModel copies the newest version under the serving directory, as
TF Serving would serve it, into its output Model, and ServedBaselineEvaluator judges the
candidate against it.

On a first run nothing is served. A task on open-source KFP cannot leave out an output
artifact (every output is recorded, written or not), so the baseline is then a Model
artifact that holds no model, and ServedBaselineEvaluator treats it as no baseline: only
the absolute RMSE bound applies, as with TFX's resolver finding nothing.
"""
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components import Evaluator
from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import io_utils, path_utils

from components import serving_layout
from components.batched_reads import EvaluatorExecutor

# The served version the baseline was copied from, or '' when nothing was served.
SERVED_VERSION_PROPERTY = 'served_version'


@component
def LatestServedModel(serving_dir: Parameter[str],
                      model: OutputArtifact[standard_artifacts.Model]):
    """Copies the newest whole version under serving_dir into model, laid out as a Trainer's
    model (<uri>/Format-Serving), the only place the Evaluator looks; leaves model empty
    when nothing is served.

    Its task must not be cached: the serving directory changes without its inputs changing.
    """
    version_dir = serving_layout.newest_version_dir(serving_dir)
    if version_dir is None:
        logging.info('Nothing served under %s: the candidate has no baseline.', serving_dir)
        model.set_string_custom_property(SERVED_VERSION_PROPERTY, '')
        return
    io_utils.copy_dir(version_dir, path_utils.serving_model_dir(model.uri))
    model.set_string_custom_property(SERVED_VERSION_PROPERTY, os.path.basename(version_dir))
    logging.info('Baseline: the served version %s.', version_dir)


def holds_model(model: types.Artifact) -> bool:
    """Whether the Evaluator would find a SavedModel in the artifact (same path rules)."""
    path = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    return fileio.exists(os.path.join(path, serving_layout.SAVED_MODEL_FILE))


class ServedBaselineEvaluatorExecutor(EvaluatorExecutor):
    """The pipeline's Evaluator executor (batched_reads.EvaluatorExecutor), except that a
    baseline artifact holding no model counts as none.

    TFX's own executor decides by the presence of the artifact and would fail to load a
    model that is not there.
    """

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        key = standard_component_specs.BASELINE_MODEL_KEY
        baseline = input_dict.get(key)
        if baseline and not holds_model(baseline[0]):
            logging.info('The baseline %s holds no model: only absolute thresholds apply.',
                         baseline[0].uri)
            input_dict = dict(input_dict, **{key: []})
        super().Do(input_dict, output_dict, exec_properties)


class ServedBaselineEvaluator(Evaluator):
    """tfx.components.Evaluator with ServedBaselineEvaluatorExecutor; same inputs and
    outputs. Give it the id 'Evaluator' (.with_id) to keep TFX's Evaluator's id."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(ServedBaselineEvaluatorExecutor)
