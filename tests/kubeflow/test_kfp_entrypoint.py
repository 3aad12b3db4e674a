"""components/kfp_entrypoint.py: what open-source KFP's launcher gives a task, mended for
TFX's entrypoint. The harness (test_harness_e2e.py) runs it as every task's command."""
import copy
import json

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2.container import (kubeflow_v2_entrypoint_utils,
                                                     kubeflow_v2_run_executor)
from tfx.types import standard_artifacts

from components import gcs_markers, kfp_entrypoint

EXAMPLES_TYPE = {'instanceSchema': 'title: tfx.Examples\ntype: object\n'}
STATISTICS_TYPE = {'instanceSchema': 'title: tfx.ExampleStatistics\ntype: object\n'}
# StatisticsGen's inputs spec, as --target kfp compiles it into the command.
INPUTS_SPEC = {'artifacts': {'examples': {'artifactType': EXAMPLES_TYPE}},
               'parameters': {'exclude_splits': {'parameterType': 'STRING'}}}
# What KFP 2.5's driver gives StatisticsGen (an input read back from its ML Metadata).
FROM_KFP = {
    'inputs': {
        'parameterValues': {'exclude_splits': '[]'},
        'artifacts': {'examples': {'artifacts': [{
            'name': '13', 'uri': 'gs://bucket/root/p/run/MovieLensExampleGen/ab12/examples',
            'type': {'instanceSchema': ''},
            'metadata': {'split_names': '["train", "eval", "test"]', 'span': 0.0,
                         'display_name': 'examples'}}]}}},
    'outputs': {
        'artifacts': {
            'statistics': {'artifacts': [{
                'uri': 'gs://bucket/root/p/run/StatisticsGen/cd34/statistics',
                'type': STATISTICS_TYPE}]},
            'executor-logs': {'artifacts': [{
                'uri': 'gs://bucket/root/p/run/StatisticsGen/cd34/executor-logs',
                'type': {'schemaTitle': 'system.Artifact'}}]}},
        'outputFile': '/tmp/kfp_outputs/output_metadata.json'}}


def parsed_by_tfx(executor_input):
    """(inputs, outputs) as TFX's entrypoint parses them."""
    message = pipeline_spec_pb2.ExecutorInput()
    json_format.ParseDict(executor_input, message, ignore_unknown_fields=True)
    return (kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(message.inputs.artifacts, {}),
            kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(message.outputs.artifacts, {}))


def test_tfx_alone_cannot_read_what_kfp_gives():
    """Why the entrypoint exists. When a TFX release reads both (tensorflow/tfx#7768), this
    fails, and components/kfp_entrypoint.py can go."""
    message = pipeline_spec_pb2.ExecutorInput()
    json_format.ParseDict(FROM_KFP, message)
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'get'"):
        kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(message.inputs.artifacts, {})
    with pytest.raises(ImportError, match='system.Artifact'):
        kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(message.outputs.artifacts, {})


def test_mended_input_is_what_tfx_reads():
    inputs, outputs = parsed_by_tfx(kfp_entrypoint.mended(copy.deepcopy(FROM_KFP), INPUTS_SPEC))

    [examples] = inputs['examples']
    assert isinstance(examples, standard_artifacts.Examples)
    assert examples.uri == 'gs://bucket/root/p/run/MovieLensExampleGen/ab12/examples'
    assert examples.split_names == '["train", "eval", "test"]'
    assert set(outputs) == {'statistics'}
    [statistics] = outputs['statistics']
    assert isinstance(statistics, standard_artifacts.ExampleStatistics)
    assert statistics.uri == 'gs://bucket/root/p/run/StatisticsGen/cd34/statistics'


def test_an_input_the_spec_does_not_declare_is_an_error_that_names_the_fix():
    with pytest.raises(ValueError, match=r"'examples' is not in the inputs spec.*--target kfp"):
        kfp_entrypoint.mended(copy.deepcopy(FROM_KFP), None)


def test_main_runs_tfx_on_the_mended_input_then_clears_the_gs_outputs(monkeypatch):
    ran, cleared = [], []
    monkeypatch.setattr(kubeflow_v2_run_executor, 'main', ran.append)
    monkeypatch.setattr(gcs_markers, 'remove_directory_markers',
                        lambda uri: cleared.append(uri) or [])
    argv = ['--executor_class_path', 'tfx.components.statistics_gen.executor.Executor',
            '--json_serialized_invocation_args', json.dumps(FROM_KFP),
            '--json_serialized_inputs_spec_args', json.dumps(INPUTS_SPEC),
            '--runner=FnApiRunner']

    kfp_entrypoint.main(kubeflow_v2_run_executor._parse_flags(argv))

    [(args, beam_args)] = ran
    assert beam_args == ['--runner=FnApiRunner']
    assert json.loads(args.json_serialized_invocation_args) == \
        kfp_entrypoint.mended(copy.deepcopy(FROM_KFP), INPUTS_SPEC)
    assert cleared == ['gs://bucket/root/p/run/StatisticsGen/cd34/statistics']
