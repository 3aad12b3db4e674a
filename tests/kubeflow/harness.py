"""Runs a compiled pipeline file here, task by task, as its platform would.

A test utility: it stands in for open-source Kubeflow Pipelines 2.5 or Vertex AI, so that
the compiled IR itself (its tasks, parameters, commands and arguments) runs on this
machine, each task in its own process through the image's entrypoint. On KFP it refuses
what KFP's API server and Argo compiler refuse; on Vertex AI it answers resolver tasks
from its metadata store (tests/kubeflow/resolver.py). tests/kubeflow/launcher.py runs
each container task.
"""
import dataclasses
import time
from typing import Dict, List

import kubeflow_runner
from tests.kubeflow import launcher, resolver
from tests.kubeflow.image import Image
from tests.kubeflow.metadata import Artifact, Store

RAN, CACHED, RESOLVED = 'ran', 'cached', 'resolved'
# backend/src/apiserver/template/v2_template.go: the only schema KFP 2.0-2.5 accept.
KFP_SCHEMA_VERSION = '2.1.0'


class Refused(ValueError):
    """The platform would not accept the pipeline."""


@dataclasses.dataclass
class TaskRun:
    state: str  # RAN, CACHED or RESOLVED
    outputs: Dict[str, List[Artifact]]
    seconds: float


def check_accepted(spec: dict, platform: launcher.Platform) -> None:
    """Raises Refused with the platform's reason if it would not run the spec."""
    if platform is not launcher.KFP:
        return
    if spec.get('schemaVersion') != KFP_SCHEMA_VERSION:
        raise Refused(f'KFP only supports schema version {KFP_SCHEMA_VERSION}, but the '
                      f'pipeline spec has version {spec.get("schemaVersion")}')
    executors = spec['deploymentSpec']['executors']
    resolvers = sorted(label for label, executor in executors.items() if 'resolver' in executor)
    if resolvers:
        raise Refused(f'resolver executors not implemented: {resolvers}')
    invalid = sorted(name for name in spec['root']['dag']['tasks']
                     if not kubeflow_runner.ARGO_TASK_NAME.fullmatch(name))
    if invalid:
        raise Refused(f'invalid Argo DAG task names: {invalid}')


def task_order(tasks: dict) -> List[str]:
    """Every task after the tasks it waits for or reads from; ties by name."""
    def upstream(name):
        task = tasks[name]
        producers = {spec['taskOutputArtifact']['producerTask']
                     for spec in task.get('inputs', {}).get('artifacts', {}).values()}
        return set(task.get('dependentTasks', [])) | producers

    order = []
    while len(order) < len(tasks):
        ready = sorted(name for name in tasks
                       if name not in order and upstream(name) <= set(order))
        if not ready:
            raise Refused(f'the tasks {sorted(set(tasks) - set(order))} wait for each other')
        order += ready
    return order


def run_pipeline(spec: dict, platform: launcher.Platform, root: str, store: Store,
                 run_id: str, image: Image = None, log=print) -> Dict[str, TaskRun]:
    """Runs every task of the PipelineSpec `spec` under the local pipeline root `root`."""
    check_accepted(spec, platform)
    image = image or Image()
    tasks = spec['root']['dag']['tasks']
    executors = spec['deploymentSpec']['executors']
    runs = {}
    for name in task_order(tasks):
        started = time.monotonic()
        component = spec['components'][tasks[name]['componentRef']['name']]
        executor = executors[component['executorLabel']]
        produced = {task: run.outputs for task, run in runs.items()}
        if 'resolver' in executor:
            _, inputs = launcher.input_artifacts(tasks[name], component, produced, platform)
            outputs = resolver.answer(executor['resolver'], inputs, store,
                                      platform.artifact_name)
            state = RESOLVED
        else:
            outputs, ran = launcher.run_task(name, spec, produced, platform, image, store,
                                             root, run_id)
            state = RAN if ran else CACHED
        runs[name] = TaskRun(state, outputs, time.monotonic() - started)
        log(f'{platform.name} {run_id} {name}: {state} in {runs[name].seconds:.0f} s')
    return runs
