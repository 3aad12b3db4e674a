"""run_summary.json: what a run produced, read back from its MLMD record and its artifacts.

Besides the numbers, it says why the model was or was not blessed (the "gate" object), in
the Evaluator's own terms: the bounds TFMA applied and the checks that failed.
"""
import json
import os
from typing import Any, Dict, Optional

from models import features
from runs import gate, record, results
from runs.record import EVALUATOR, EXAMPLE_GEN, PUSHER, STATISTICS_GEN, TRAINER, RunRecord


def components(run: RunRecord) -> Dict[str, Dict[str, Any]]:
    """Seconds and cache state of each component of the run, in start order."""
    return {node_id: {'seconds': record.seconds(e), 'cached': record.is_cached(e)}
            for node_id, e in run.executions().items()}


def build(run: RunRecord, pipeline_name: str, source: Optional[str],
          data_path: Optional[str], wall_seconds: float) -> Dict[str, Any]:
    """The summary of `run`, as run_summary.json holds it."""
    examples = run.output(EXAMPLE_GEN, 'examples')
    statistics = run.output(STATISTICS_GEN, 'statistics')
    evaluation_artifact = run.output(EVALUATOR, 'evaluation')
    blessing = run.output(EVALUATOR, 'blessing')
    model_run = run.output(TRAINER, 'model_run')
    pushed = run.output(PUSHER, 'pushed_model')
    counts = ({split: stats.num_examples
               for split, stats in results.read_statistics(statistics).items()}
              if statistics else {})
    evaluation = results.read_evaluation(evaluation_artifact) if evaluation_artifact else None
    history = results.read_training_history(model_run) if model_run else None
    return {
        'pipeline_name': pipeline_name,
        'data': {'source': source, 'path': data_path,
                 'format': results.data_format(examples) if examples else None,
                 'split': results.split_kind(examples) if examples else None,
                 'split_counts': {split: counts.get(split, 0) for split in features.SPLITS},
                 'skipped_rows': results.skipped_rows(examples) if examples else None},
        'test_rmse': evaluation.rmse if evaluation else None,
        'eval_rmse': history.eval_rmse if history else None,
        'blessed': bool(blessing and blessing.get_int_custom_property('blessed')),
        'gate': gate.gate(evaluation).as_dict() if evaluation else None,
        'pushed_model_dir': (pushed.get_string_custom_property('pushed_destination')
                             if pushed and pushed.get_int_custom_property('pushed')
                             else None),
        'components': components(run),
        'wall_seconds': round(wall_seconds, 2),
    }


def write(summary: Dict[str, Any], path: str) -> None:
    """Writes the summary whole, then renames it into place: a reader never sees half."""
    with open(path + '.tmp', 'w') as f:
        json.dump(summary, f, indent=2)
    os.replace(path + '.tmp', path)
