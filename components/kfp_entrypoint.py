"""The container command of every task that kubeflow_runner.py compiles for open-source
Kubeflow Pipelines: TFX's own entrypoint (kubeflow_v2_run_executor), with its input mended.

The open-source KFP 2.x launcher gives a task an ExecutorInput that TFX 1.16 cannot read,
in two ways; Vertex AI, which runs TFX's entrypoint directly, does neither:

- Input artifacts come with an empty type, {"instanceSchema": ""}: KFP reads them back from
  its ML Metadata without their schema. TFX finds an artifact's class from that type and
  fails in _retrieve_class_path (tensorflow/tfx#7768). The component's own declaration of
  its inputs is in the command (--json_serialized_inputs_spec_args, schema 2.1.0), so each
  input takes its declared type from there.
- KFP 2.5 adds an output 'executor-logs' of type system.Artifact to every task, which TFX
  would import as a class ("Could not import system.Artifact"). The launcher writes that
  artifact itself; the executor never sees it.

After the executor, the GCS directory markers under its outputs are removed, which the
launcher would trip over when it downloads them as a later task's inputs (gcs_markers.py).
"""
import json
from typing import List, Optional

from absl import app, logging
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

from components import gcs_markers

# KFP's own artifact types, as opposed to TFX's ('tfx.Examples', ...).
KFP_TYPE_PREFIX = 'system.'


def _is_kfp_own(artifact_list: dict) -> bool:
    return any((artifact.get('type') or {}).get('schemaTitle', '').startswith(KFP_TYPE_PREFIX)
               for artifact in artifact_list.get('artifacts', []))


def mended(executor_input: dict, inputs_spec: Optional[dict]) -> dict:
    """The ExecutorInput (as JSON) with the declared input types and without KFP's own
    outputs. inputs_spec: the task's ComponentInputsSpec, as JSON, or None."""
    declared = (inputs_spec or {}).get('artifacts', {})
    inputs = executor_input.get('inputs', {}).get('artifacts', {})
    for key, artifact_list in inputs.items():
        if key not in declared:
            raise ValueError(
                f'Input artifact {key!r} is not in the inputs spec '
                f'(--json_serialized_inputs_spec_args declares {sorted(declared)}), so its '
                'type is unknown. Compile with kubeflow_runner.py --target kfp, which writes '
                'the spec into every command.')
        for artifact in artifact_list.get('artifacts', []):
            artifact['type'] = declared[key]['artifactType']
    outputs = executor_input.get('outputs', {}).get('artifacts', {})
    for key in [key for key, artifact_list in outputs.items() if _is_kfp_own(artifact_list)]:
        del outputs[key]
    return executor_input


def output_uris(executor_input: dict) -> List[str]:
    return [artifact['uri']
            for artifact_list in executor_input.get('outputs', {}).get('artifacts', {}).values()
            for artifact in artifact_list.get('artifacts', []) if artifact.get('uri')]


def main(parsed_argv) -> None:
    args, beam_args = parsed_argv
    inputs_spec = (json.loads(args.json_serialized_inputs_spec_args)
                   if args.json_serialized_inputs_spec_args else None)
    executor_input = mended(json.loads(args.json_serialized_invocation_args), inputs_spec)
    args.json_serialized_invocation_args = json.dumps(executor_input)
    kubeflow_v2_run_executor.main((args, beam_args))
    for uri in output_uris(executor_input):
        if uri.startswith(gcs_markers.GCS_SCHEME):
            removed = gcs_markers.remove_directory_markers(uri)
            logging.info('Removed %d directory markers under %s.', len(removed), uri)


if __name__ == '__main__':
    # TFX's own flags, so that the compiled arguments mean what they mean to TFX.
    app.run(main, flags_parser=kubeflow_v2_run_executor._parse_flags)
