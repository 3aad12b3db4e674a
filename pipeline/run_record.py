"""One pipeline run as MLMD recorded it: each component's execution and output artifacts.

Progress lines and run_summary.json both read from here, so they describe exactly what is
recorded, cached executions included, as any later tool would find it.
"""
from typing import Dict, List

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

Execution = metadata_store_pb2.Execution

# MLMD node ids of the components that the summary, the report and local_runner.py read, as
# pipeline/pipeline.py names them.
EXAMPLE_GEN = 'MovieLensExampleGen'
STATISTICS_GEN = 'StatisticsGen'
EXAMPLE_VALIDATOR = 'ExampleValidator'
TRAINER = 'Trainer'
EVALUATOR = 'Evaluator'
PUSHER = 'Pusher'
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


def connect(metadata_path: str) -> mlmd.MetadataStore:
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


class RunRecord:
    """The executions newer than `since_execution_id`, by component id."""

    def __init__(self, store: mlmd.MetadataStore, since_execution_id: int = 0):
        self.store = store
        self.since_execution_id = since_execution_id
        self._node_ids = {}  # execution id -> component id; never changes once known

    def executions(self) -> Dict[str, Execution]:
        """The latest execution of each component in this run, in start order."""
        newer = sorted((e for e in self.store.get_executions()
                        if e.id > self.since_execution_id), key=lambda e: e.id)
        return {self._node_id(e): e for e in newer}

    def _node_id(self, execution: Execution) -> str:
        if execution.id not in self._node_ids:
            nodes = [c.name for c in self.store.get_contexts_by_execution(execution.id)
                     if c.type == 'node']
            # Node contexts are named '<pipeline name>.<component id>'.
            self._node_ids[execution.id] = nodes[0].split('.', 1)[1] if nodes else '?'
        return self._node_ids[execution.id]

    def outputs(self, node_id: str) -> Dict[str, List[metadata_store_pb2.Artifact]]:
        """The output artifacts of a component's execution in this run, by output key."""
        execution = self.executions().get(node_id)
        if execution is None:
            return {}
        events = [e for e in self.store.get_events_by_execution_ids([execution.id])
                  if e.type in _OUTPUT_EVENTS]
        artifacts = {a.id: a for a in self.store.get_artifacts_by_id(
            [e.artifact_id for e in events])}
        outputs = {}
        for event in events:
            outputs.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
        return outputs


def custom_property(artifact_or_execution, name):
    """A custom property's value (string, int or double), or None when it is not set."""
    value = artifact_or_execution.custom_properties.get(name)
    if value is None:
        return None
    return value.string_value or value.int_value or value.double_value


def seconds(execution: Execution) -> float:
    return round((execution.last_update_time_since_epoch
                  - execution.create_time_since_epoch) / 1000.0, 2)


def is_cached(execution: Execution) -> bool:
    return execution.last_known_state == Execution.CACHED
