"""One container task of a compiled pipeline, run as the platform's launcher runs it.

For open-source KFP this follows its driver and launcher (backend/src/v2/driver/driver.go
and component/launcher_v2.go, release 2.5.0); for Vertex AI, what TFX's own entrypoint and
its test data expect. Per task:

1. the ExecutorInput: parameters from the IR; each input artifact as its producer
   recorded it (name, uri, metadata) with the platform's type; each output a fresh URI
   under the pipeline root with the IR's type, and the output file;
2. the cache: a hit reuses the recorded outputs and runs nothing;
3. the IR's own `command` and `args`, `{{$}}` replaced by the ExecutorInput as JSON, in the
   image's stand-in (tests/kubeflow/image.py); on Vertex AI the task's
   `lifecycle.preCacheCheck` first, whose output also keys the cache;
4. every declared output recorded, with the uri and metadata the executor reported.

Deviations from a real platform: a local pipeline root (KFP refuses any but an object
store), so no artifact is downloaded or uploaded; output directories are made in advance,
as a local file system needs and an object store does not.
"""
import dataclasses
import hashlib
import json
import os
import subprocess
import uuid
from typing import Dict, List, Tuple

import yaml

from tests.kubeflow.image import Image
from tests.kubeflow.metadata import Artifact, Store

PLACEHOLDER = '{{$}}'
TASK_TIMEOUT_SECONDS = 900


class TaskFailed(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Platform:
    name: str
    typed_inputs: bool  # whether input artifacts carry their type (KFP 2.0-2.5: empty)
    executor_logs: bool  # KFP 2.5 adds an 'executor-logs' system.Artifact output
    runs_pre_cache_check: bool  # Vertex AI runs the ExampleGen's driver; KFP never does

    def artifact_name(self, artifact: Artifact) -> str:
        if self.name == 'vertex':
            return (f'projects/123456789/locations/us-central1/metadataStores/default/'
                    f'artifacts/{artifact.id}')
        return str(artifact.id)  # KFP: the MLMD id, in decimal

    def task_paths(self, root: str, pipeline: str, run_id: str, task: str):
        """(directory of the task's outputs, its output file)."""
        salt = uuid.uuid4().hex[:8]
        if self.name == 'vertex':
            task_dir = os.path.join(root, '123456789', run_id, f'{task}_{salt}')
            return task_dir, os.path.join(task_dir, 'executor_output.json')
        # The output file is in the pod, not under the root: /tmp/kfp_outputs/...
        pod_tmp = os.path.join(root, 'pods', run_id, f'{task}-{salt}', 'tmp')
        return (os.path.join(root, pipeline, run_id, task, salt),
                os.path.join(pod_tmp, 'kfp_outputs', 'output_metadata.json'))


KFP = Platform('kfp', typed_inputs=False, executor_logs=True, runs_pre_cache_check=False)
VERTEX = Platform('vertex', typed_inputs=True, executor_logs=False, runs_pre_cache_check=True)


def schema_title(artifact_type: dict) -> str:
    if 'schemaTitle' in artifact_type:
        return artifact_type['schemaTitle']
    return yaml.safe_load(artifact_type['instanceSchema'])['title']


def task_parameters(task: dict, image: Image):
    """(parameterValues, parameters): schema 2.1.0 constants go to the first, 2.0.0 Values
    to the deprecated second, which is what TFX reads without an inputs spec."""
    values, legacy = {}, {}
    for name, spec in task.get('inputs', {}).get('parameters', {}).items():
        runtime_value = spec.get('runtimeValue')
        if runtime_value is None:
            raise NotImplementedError(f'Parameter {name}: {spec}: the harness passes only '
                                      'constants; this pipeline has no runtime parameters.')
        if 'constant' in runtime_value:
            values[name] = image.local_path(runtime_value['constant'])
        else:
            legacy[name] = {kind: image.local_path(value)
                            for kind, value in runtime_value['constantValue'].items()}
    return values, legacy


def input_artifacts(task: dict, component: dict, produced: dict, platform: Platform):
    """The task's input artifacts, by key: (ExecutorInput JSON, recorded Artifacts)."""
    runtime, recorded = {}, {}
    for key, spec in task.get('inputs', {}).get('artifacts', {}).items():
        source = spec['taskOutputArtifact']
        artifacts = produced[source['producerTask']][source['outputArtifactKey']]
        if not artifacts:
            continue  # a resolver that found nothing: the input is absent
        declared = component['inputDefinitions']['artifacts'][key]['artifactType']
        runtime[key] = {'artifacts': [
            {'name': platform.artifact_name(artifact), 'uri': artifact.uri,
             'metadata': artifact.metadata,
             'type': declared if platform.typed_inputs else {'instanceSchema': ''}}
            for artifact in artifacts]}
        recorded[key] = artifacts
    return runtime, recorded


def cache_key(pipeline: str, recorded_inputs, parameters, component, container) -> str:
    """What KFP's cache key holds (backend/src/v2/cacheutils/cache.go): input artifact
    names, parameter values, output specs, image, command and arguments."""
    return hashlib.sha256(json.dumps(dict(
        pipeline=pipeline,
        inputs={key: [artifact.id for artifact in artifacts]
                for key, artifacts in recorded_inputs.items()},
        parameters=parameters,
        outputs=component.get('outputDefinitions', {}),
        container=[container['image'], *container['command'], *container['args']],
    ), sort_keys=True).encode()).hexdigest()


def execute(container: dict, executor_input: dict, image: Image, log_path: str) -> None:
    """Runs the container's command and args as compiled, with {{$}} substituted."""
    invocation = json.dumps(executor_input)
    command = list(container['command']) + [argument.replace(PLACEHOLDER, invocation)
                                             for argument in container['args']]
    unsupported = [argument for argument in command if '{{$' in argument]
    if unsupported:
        raise NotImplementedError(f'The harness substitutes only {PLACEHOLDER}, which is all '
                                  f'TFX compiles; found {unsupported}.')
    with open(log_path, 'w') as log:
        result = subprocess.run(command, cwd=image.cwd, env=image.environment(),
                                stdout=log, stderr=subprocess.STDOUT,
                                timeout=TASK_TIMEOUT_SECONDS)
    if result.returncode:
        with open(log_path) as log:
            tail = ''.join(log.readlines()[-25:])
        raise TaskFailed(f'{" ".join(container["command"])} exited with {result.returncode}; '
                         f'its log is {log_path}:\n{tail}')


def run_task(name: str, spec: dict, produced: dict, platform: Platform, image: Image,
             store: Store, root: str, run_id: str) -> Tuple[Dict[str, List[Artifact]], bool]:
    """Runs one container task: (its recorded outputs by key, whether it ran or was
    cached)."""
    task = spec['root']['dag']['tasks'][name]
    component = spec['components'][task['componentRef']['name']]
    container = spec['deploymentSpec']['executors'][component['executorLabel']]['container']
    pipeline = spec['pipelineInfo']['name']
    values, legacy = task_parameters(task, image)
    runtime_inputs, recorded_inputs = input_artifacts(task, component, produced, platform)

    task_dir, output_file = platform.task_paths(root, pipeline, run_id, name)
    declared = component.get('outputDefinitions', {}).get('artifacts', {})
    outputs = {key: {'artifacts': [{'uri': os.path.join(task_dir, key),
                                    'type': definition['artifactType']}]}
               for key, definition in declared.items()}
    if platform.executor_logs:
        outputs['executor-logs'] = {'artifacts': [{'uri': os.path.join(task_dir, 'executor-logs'),
                                                   'type': {'schemaTitle': 'system.Artifact'}}]}
    executor_input = {'inputs': {'artifacts': runtime_inputs},
                      'outputs': {'artifacts': outputs, 'outputFile': output_file}}
    if values:
        executor_input['inputs']['parameterValues'] = values
    if legacy:
        executor_input['inputs']['parameters'] = legacy
    for artifact_list in outputs.values():
        os.makedirs(artifact_list['artifacts'][0]['uri'], exist_ok=True)
    os.makedirs(os.path.dirname(output_file), exist_ok=True)
    with open(os.path.join(os.path.dirname(output_file), 'executor_input.json'), 'w') as f:
        json.dump(executor_input, f, indent=1)
    log_path = os.path.join(os.path.dirname(output_file), 'task.log')

    key_parameters = dict(values, **legacy)
    driver = container.get('lifecycle', {}).get('preCacheCheck')
    if driver and platform.runs_pre_cache_check:
        execute(dict(container, **driver), executor_input, image, log_path + '.driver')
        driven = read_output_file(output_file)
        key_parameters['driver'] = {kind: driven.get(kind, {})
                                    for kind in ('parameterValues', 'parameters')}
    caching = task.get('cachingOptions', {}).get('enableCache', False)
    key = cache_key(pipeline, recorded_inputs, key_parameters, component, container)
    if caching and key in store.cache:
        return store.cache[key], False

    execute(container, executor_input, image, log_path)
    reported = read_output_file(output_file).get('artifacts', {})
    recorded = {}
    for key_name, definition in declared.items():
        [given] = outputs[key_name]['artifacts']
        [result] = reported.get(key_name, {}).get('artifacts') or [{}]
        metadata = dict(result.get('metadata', {}), display_name=key_name)
        recorded[key_name] = [store.record(schema_title(definition['artifactType']),
                                           result.get('uri') or given['uri'], metadata)]
    if caching:
        store.cache[key] = recorded
    return recorded, True


def read_output_file(path: str) -> dict:
    """The ExecutorOutput the task wrote, or none (the launcher takes a missing file so)."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)
