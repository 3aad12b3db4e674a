"""One pipeline run as MLMD recorded it: each component's execution and output artifacts.

The progress lines, run_summary.json and the report all read a run from here, so they
describe exactly what is recorded, cached executions included, as any later tool would find
it.
"""
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.types import artifact_utils

from runs import store as store_file

Execution = metadata_store_pb2.Execution

# MLMD node ids of the components that the summary, the report and the runner read, as
# pipeline/pipeline.py names them.
EXAMPLE_GEN = 'MovieLensExampleGen'
STATISTICS_GEN = 'StatisticsGen'
EXAMPLE_VALIDATOR = 'ExampleValidator'
TRANSFORM = 'Transform'
TRAINER = 'Trainer'
EVALUATOR = 'Evaluator'
PUSHER = 'Pusher'

# An execution's state in the words of the progress lines and the report. A local run marks
# the execution that SIGINT or SIGTERM stopped CANCELED (runs/store.py).
DONE, CACHED, FAILED, INTERRUPTED, RUNNING = ('done', 'cached', 'FAILED', 'interrupted',
                                              'running')
_STATE_WORDS = {Execution.COMPLETE: DONE, Execution.CACHED: CACHED, Execution.FAILED: FAILED,
                Execution.CANCELED: INTERRUPTED, Execution.RUNNING: RUNNING,
                Execution.NEW: RUNNING}
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


class NoRunError(FileNotFoundError):
    """The output dir holds no pipeline run to read."""


def connect(metadata_path: str) -> mlmd.MetadataStore:
    """The store, read-only: readers never write to a run's record (they only roll back
    what a killed run left half-written, as its next run would).

    Raises NoRunError when there is no store, DamagedStoreError when it is damaged.
    """
    if not os.path.exists(metadata_path):
        raise NoRunError(f'{metadata_path} does not exist: no pipeline run was recorded there.')
    store_file.roll_back_killed_write(metadata_path)
    store_file.check(metadata_path)
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(config)


def last_execution_id(store: mlmd.MetadataStore) -> int:
    """The newest execution id so far; a run's executions are the ones after it."""
    # One row, not the whole history, which grows by a dozen executions with every run.
    newest = store.get_executions(list_options=mlmd.ListOptions(
        order_by=mlmd.OrderByField.ID, is_asc=False, limit=1))
    return newest[0].id if newest else 0


def latest_run(store: mlmd.MetadataStore) -> Tuple[Optional[str], int]:
    """(name, id of the execution before it) of the newest run recorded in MLMD.

    TFX puts every execution of a run, cached ones included, in that run's pipeline_run
    context. Without such contexts, the whole history is read and the latest execution of
    each component wins.
    """
    runs = store.get_contexts_by_type('pipeline_run')
    if not runs:
        return None, 0
    newest = max(runs, key=lambda context: context.id)
    execution_ids = [e.id for e in store.get_executions_by_context(newest.id)]
    if not execution_ids:
        # A run that stopped before its first execution: nothing of it to show.
        return newest.name, last_execution_id(store)
    return newest.name, min(execution_ids) - 1


def state(execution: Execution) -> str:
    return _STATE_WORDS.get(execution.last_known_state, 'unknown')


def seconds(execution: Execution) -> float:
    return round((execution.last_update_time_since_epoch
                  - execution.create_time_since_epoch) / 1000.0, 2)


def is_cached(execution: Execution) -> bool:
    return execution.last_known_state == Execution.CACHED


def custom_property(execution: Execution, name: str) -> Any:
    """A custom property's value (string, int or double), or None when it is not set."""
    value = execution.custom_properties.get(name)
    if value is None:
        return None
    return value.string_value or value.int_value or value.double_value


def custom_config(execution: Execution) -> Dict[str, Any]:
    """An execution's custom_config exec property, which TFX stores as JSON."""
    config = json.loads(custom_property(execution, 'custom_config') or 'null') or {}
    # The ExampleGen wraps its own in a google.protobuf.Struct.
    if 'custom_config' in config:
        config = config['custom_config'].get('value', {})
    return config


class RunRecord:
    """The executions newer than `since_execution_id`, by component id, and their outputs."""

    def __init__(self, store: mlmd.MetadataStore, since_execution_id: int = 0,
                 name: Optional[str] = None):
        self.store = store
        self.since_execution_id = since_execution_id
        self.name = name  # of the run's pipeline_run context, when known
        self._node_ids = {}  # execution id -> component id; never changes once known

    @classmethod
    def latest(cls, metadata_path: str) -> 'RunRecord':
        """The newest run recorded in metadata_path."""
        store = connect(metadata_path)
        name, since = latest_run(store)
        return cls(store, since, name)

    def executions(self) -> Dict[str, Execution]:
        """The latest execution of each component in this run, in start order."""
        newer = sorted((e for e in self.store.get_executions()
                        if e.id > self.since_execution_id), key=lambda e: e.id)
        return {self._node_id(e): e for e in newer}

    def failed(self) -> List[str]:
        """The components whose execution failed, in start order."""
        return [node_id for node_id, execution in self.executions().items()
                if execution.last_known_state == Execution.FAILED]

    def _node_id(self, execution: Execution) -> str:
        if execution.id not in self._node_ids:
            nodes = [c.name for c in self.store.get_contexts_by_execution(execution.id)
                     if c.type == 'node']
            # Node contexts are named '<pipeline name>.<component id>'.
            self._node_ids[execution.id] = nodes[0].split('.', 1)[1] if nodes else '?'
        return self._node_ids[execution.id]

    def outputs(self, node_id: str) -> Dict[str, List[types.Artifact]]:
        """The output artifacts of a component's execution in this run, by output key, as
        TFX artifacts (uri, split names, properties)."""
        execution = self.executions().get(node_id)
        if execution is None:
            return {}
        events = [e for e in self.store.get_events_by_execution_ids([execution.id])
                  if e.type in _OUTPUT_EVENTS]
        artifacts = {a.id: a for a in self.store.get_artifacts_by_id(
            [e.artifact_id for e in events])}
        artifact_types = {t.id: t for t in self.store.get_artifact_types_by_id(
            list({a.type_id for a in artifacts.values()}))}
        outputs = {}
        for event in events:
            artifact = artifacts[event.artifact_id]
            outputs.setdefault(event.path.steps[0].key, []).append(
                artifact_utils.deserialize_artifact(artifact_types[artifact.type_id], artifact))
        return outputs

    def output(self, node_id: str, key: str) -> Optional[types.Artifact]:
        """The first artifact a component of this run wrote under `key`, or None."""
        artifacts = self.outputs(node_id).get(key)
        return artifacts[0] if artifacts else None
