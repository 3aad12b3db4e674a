"""run_summary.json: what a run produced, read back from MLMD and the artifacts themselves."""
import json
import os
from typing import Any, Dict, Optional

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import statistics_pb2

from models import features
from models.ranking.trainer import HISTORY_FILE
from pipeline import run_record

SUMMARY_FILE = 'run_summary.json'


def _custom(artifact, name):
    value = artifact.custom_properties.get(name)
    if value is None:
        return None
    return value.string_value or value.int_value or value.double_value


def split_counts(statistics_uri: str) -> Dict[str, int]:
    """Examples per split, from StatisticsGen's output (no need to read the examples)."""
    counts = {}
    for split in features.SPLITS:
        path = os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with tf.io.gfile.GFile(path, 'rb') as f:
            stats.ParseFromString(f.read())
        counts[split] = int(stats.datasets[0].num_examples)
    return counts


def overall_rmse(evaluation_uri: str) -> Optional[float]:
    """The candidate model's RMSE over the whole test split, from the Evaluator's output."""
    for slice_key, metrics in tfma.load_eval_result(evaluation_uri).slicing_metrics:
        if slice_key == ():
            rmse = metrics[''][''].get('root_mean_squared_error')
            return float(rmse['doubleValue']) if rmse else None
    return None


def best_eval_rmse(model_run_uri: str) -> Optional[float]:
    """The Trainer's best RMSE on the eval split, where early stopping chose the weights."""
    path = os.path.join(model_run_uri, HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)['eval_rmse']


def build(record: run_record.RunRecord, pipeline_name: str, source: str, data_path: str,
          wall_seconds: float) -> Dict[str, Any]:
    def output(node_id, key):
        artifacts = record.outputs(node_id).get(key)
        return artifacts[0] if artifacts else None

    statistics = output('StatisticsGen', 'statistics')
    evaluation = output('Evaluator', 'evaluation')
    blessing = output('Evaluator', 'blessing')
    model_run = output('Trainer', 'model_run')
    pushed = output('Pusher', 'pushed_model')
    counts = split_counts(statistics.uri) if statistics else {}
    return {
        'pipeline_name': pipeline_name,
        'data': {'source': source, 'path': data_path,
                 'split_counts': {split: counts.get(split, 0) for split in features.SPLITS}},
        'test_rmse': overall_rmse(evaluation.uri) if evaluation else None,
        'eval_rmse': best_eval_rmse(model_run.uri) if model_run else None,
        'blessed': bool(blessing and _custom(blessing, 'blessed')),
        'pushed_model_dir': (_custom(pushed, 'pushed_destination')
                             if pushed and _custom(pushed, 'pushed') else None),
        'components': {node_id: {'seconds': run_record.seconds(e),
                                 'cached': run_record.is_cached(e)}
                       for node_id, e in record.executions().items()},
        'wall_seconds': round(wall_seconds, 2),
    }


def write(summary: Dict[str, Any], output_dir: str) -> str:
    path = os.path.join(output_dir, SUMMARY_FILE)
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    return path
