"""run_summary.json: what a run produced, read back from MLMD and the artifacts themselves.

The summary is built from MLMD rather than from the runner's memory, so that it describes
what is recorded, cached executions included, exactly as a later tool would find it.
"""
import json
import os
from typing import Any, Dict, Optional

import ml_metadata as mlmd
import tensorflow as tf
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.types import artifact_utils

from models import features
from models.ranking.trainer import HISTORY_FILE

SUMMARY_FILE = 'run_summary.json'


class RunRecord:
    """The output artifacts of each component in one pipeline run, from MLMD."""

    def __init__(self, metadata_path: str, pipeline_name: str):
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = metadata_path
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        self.store = mlmd.MetadataStore(config)
        runs = [c for c in self.store.get_contexts_by_type('pipeline_run')
                if c.name.startswith('') and self._belongs(c, pipeline_name)]
        self.run_context = max(runs, key=lambda c: c.id) if runs else None

    def _belongs(self, context, pipeline_name):
        parents = self.store.get_parent_contexts_by_context(context.id)
        return any(p.type == 'pipeline' and p.name == pipeline_name for p in parents) or not parents

    def outputs(self, node_id: str) -> Dict[str, list]:
        """Output artifacts (TFX Artifact-like: .uri, .custom_properties) by output key."""
        if self.run_context is None:
            return {}
        executions = [e for e in self.store.get_executions_by_context(self.run_context.id)
                      if e.properties.get('node_id', None) is not None
                      and e.properties['node_id'].string_value == node_id
                      or self._node_name(e) == node_id]
        if not executions:
            return {}
        execution = max(executions, key=lambda e: e.id)
        events = [e for e in self.store.get_events_by_execution_ids([execution.id])
                  if e.type in (metadata_store_pb2.Event.OUTPUT,
                                metadata_store_pb2.Event.DECLARED_OUTPUT)]
        artifacts = {a.id: a for a in self.store.get_artifacts_by_id(
            [e.artifact_id for e in events])}
        result = {}
        for event in events:
            key = event.path.steps[0].key if event.path.steps else ''
            result.setdefault(key, []).append(artifacts[event.artifact_id])
        return result

    def _node_name(self, execution):
        for context in self.store.get_contexts_by_execution(execution.id):
            if context.type == 'node':
                return context.name.split('.', 1)[-1]
        return None


def _custom(artifact, name):
    value = artifact.custom_properties.get(name)
    if value is None:
        return None
    return value.string_value or value.int_value or value.double_value


def split_counts(statistics_uri: str, split_names) -> Dict[str, int]:
    counts = {}
    for split in split_names:
        path = os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with tf.io.gfile.GFile(path, 'rb') as f:
            stats.ParseFromString(f.read())
        counts[split] = int(stats.datasets[0].num_examples)
    return counts


def overall_rmse(evaluation_uri: str) -> Optional[float]:
    result = tfma.load_eval_result(evaluation_uri)
    for slice_key, metrics in result.slicing_metrics:
        if slice_key == ():
            values = next(iter(metrics.values()))['']
            rmse = values.get('root_mean_squared_error')
            return float(rmse['doubleValue']) if rmse else None
    return None


def build(output_dir: str, metadata_path: str, pipeline_name: str, source: str,
          data_path: str, components: Dict[str, Any], wall_seconds: float) -> Dict[str, Any]:
    record = RunRecord(metadata_path, pipeline_name)

    def first(node_id, key):
        artifacts = record.outputs(node_id).get(key)
        return artifacts[0] if artifacts else None

    statistics = first('StatisticsGen', 'statistics')
    counts = {}
    if statistics is not None:
        counts = split_counts(statistics.uri, artifact_utils.decode_split_names(
            _custom(statistics, 'split_names') or statistics.properties['split_names'].string_value))
    evaluation, blessing = first('Evaluator', 'evaluation'), first('Evaluator', 'blessing')
    model_run = first('Trainer', 'model_run')
    pushed = first('Pusher', 'pushed_model')

    eval_rmse = None
    if model_run is not None and tf.io.gfile.exists(os.path.join(model_run.uri, HISTORY_FILE)):
        with tf.io.gfile.GFile(os.path.join(model_run.uri, HISTORY_FILE)) as f:
            eval_rmse = json.load(f)['eval_rmse']
    pushed_dir = None
    if pushed is not None and _custom(pushed, 'pushed'):
        pushed_dir = _custom(pushed, 'pushed_destination')

    return {
        'pipeline_name': pipeline_name,
        'data': {'source': source, 'path': data_path,
                 'split_counts': {split: counts.get(split, 0) for split in features.SPLITS}},
        'test_rmse': overall_rmse(evaluation.uri) if evaluation is not None else None,
        'eval_rmse': eval_rmse,
        'blessed': bool(blessing is not None and _custom(blessing, 'blessed')),
        'pushed_model_dir': pushed_dir,
        'components': components,
        'wall_seconds': round(wall_seconds, 2),
    }


def write(summary: Dict[str, Any], output_dir: str) -> str:
    path = os.path.join(output_dir, SUMMARY_FILE)
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    return path
