"""The latest run of an output dir as the report reads it: its executions, its outputs (or
why one is missing, in words), its statistics and evaluation read once, and its summary.

Everything goes through the project's readers: runs/record.py for MLMD, runs/results.py for
the TFDV and TFMA files, runs/summary.py for the summary.
"""
import os
from typing import Any, Dict, Optional, Tuple

from pipeline import configs
from reporting.context import Missing
from runs import record, results, summary as run_summary
from runs.output_dir import OutputDir
from runs.record import EVALUATOR, EXAMPLE_GEN, STATISTICS_GEN, NoRunError, RunRecord

# Where the page says its run summary came from.
FROM_RUNNER = 'run_summary.json'
FROM_MLMD = 'MLMD (rebuilt from the run\'s record)'


class Run:
    """The latest run of an output dir: its executions, outputs and summary, each read once.

    Args:
      output_dir: the run's --output-dir, absolute.
      run_record: its executions in MLMD.
      failure_message: the error a failed run ended with, which MLMD does not keep.
      summary: this run's summary as the runner wrote it; None to build it from MLMD.
    """

    def __init__(self, output_dir: str, run_record: RunRecord, failure_message: Optional[str],
                 summary: Optional[Dict[str, Any]]):
        self.output_dir = output_dir
        self.record = run_record
        self.executions = run_record.executions()
        self.failed = tuple(run_record.failed())  # components whose execution failed
        # Components that SIGINT or SIGTERM stopped (runs/local.py marks them in MLMD).
        self.interrupted = tuple(node_id for node_id, e in self.executions.items()
                                 if record.state(e) == record.INTERRUPTED)
        self.failure_message = failure_message
        self.problems = []  # filled when even the summary cannot be built
        self._outputs = {}
        self._statistics = None
        self._evaluation = None
        if summary is not None:
            self.summary, self.summary_origin = summary, FROM_RUNNER
        else:
            self.summary, self.summary_origin = self._summary_from_mlmd(), FROM_MLMD

    @classmethod
    def open(cls, output_dir: str, failure_message: Optional[str] = None,
             summary: Optional[Dict[str, Any]] = None) -> 'Run':
        """The latest run recorded in output_dir.

        Args:
          output_dir: the --output-dir of a local_runner.py run.
          failure_message: the error a failed run ended with, which MLMD does not keep.
          summary: this run's run_summary.json contents; None to build them from MLMD.

        Returns:
          The run. Raises NoRunError when the dir holds no metadata.sqlite.
        """
        output_dir = os.path.abspath(output_dir)
        metadata_path = OutputDir(output_dir).metadata
        if not os.path.exists(metadata_path):
            raise NoRunError(
                f'{metadata_path} does not exist: {output_dir} holds no pipeline run. Run '
                f'local_runner.py --output-dir {output_dir} first, or pass the --output-dir '
                'of an earlier run.')
        return cls(output_dir, RunRecord.latest(metadata_path), failure_message, summary)

    def _summary_from_mlmd(self) -> Dict[str, Any]:
        config = {}
        if EXAMPLE_GEN in self.executions:
            config = record.custom_config(self.executions[EXAMPLE_GEN])
        times = [(e.create_time_since_epoch, e.last_update_time_since_epoch)
                 for e in self.executions.values()]
        wall_seconds = ((max(end for _, end in times) - min(start for start, _ in times))
                        / 1000.0 if times else 0.0)
        try:
            return run_summary.build(self.record, configs.PIPELINE_NAME, config.get('source'),
                                     config.get('data_path'), wall_seconds)
        except Exception as error:  # noqa: BLE001 -- shown on the page and in problems
            # A half-written artifact of a broken run must not cost the whole page; the
            # parts that need a missing number say so themselves.
            self.problems.append(f'run summary: {type(error).__name__}: {error}')
            return {'data': {'source': config.get('source'), 'path': config.get('data_path')},
                    'components': run_summary.components(self.record),
                    'wall_seconds': round(wall_seconds, 2)}

    def output(self, node_id: str, key: str):
        """The artifact a component of this run wrote under `key`; Missing says why not."""
        if node_id not in self._outputs:
            self._outputs[node_id] = self.record.outputs(node_id)
        artifacts = self._outputs[node_id].get(key)
        if not artifacts:
            raise Missing(self.absence(node_id, key))
        return artifacts[0]

    def identity(self, node_id: str, key: str, required: bool = True
                 ) -> Optional[Tuple[int, int]]:
        """What identifies an output in the key of a part drawn from it.

        Args:
          node_id: the component.
          key: its output key.
          required: whether a missing output raises Missing, rather than giving None.

        Returns:
          (MLMD id, creation time): ids start again from 1 in a new metadata.sqlite.
        """
        try:
            artifact = self.output(node_id, key)
        except Missing:
            if required:
                raise
            return None
        return artifact.id, artifact.mlmd_artifact.create_time_since_epoch

    def cached(self, node_id: str) -> bool:
        execution = self.executions.get(node_id)
        return execution is not None and record.is_cached(execution)

    def absence(self, node_id: str, key: str) -> str:
        """Why component `node_id` has no output `key` in this run, in words."""
        execution, failed = self.executions.get(node_id), self.failed
        detail = ''
        if self.failure_message and self.failure_message.strip():
            detail = f' ({self.failure_message.strip().splitlines()[0]})'
        if execution is None:
            if failed:
                return f'{node_id} did not run: the run stopped when {failed[0]} failed{detail}.'
            if self.interrupted:
                return f'{node_id} did not run: the run was interrupted in {self.interrupted[0]}.'
            return (f'{node_id} has not run in this run (the run may still be going, or was '
                    'interrupted).')
        state = record.state(execution)
        if state == record.FAILED:
            return f'{node_id} failed in this run{detail}.'
        if state == record.INTERRUPTED:
            return f'{node_id} was interrupted in this run.'
        if state == record.RUNNING:
            return f'{node_id} had not finished when this report was written.'
        return f'{node_id} ran ({state}) but recorded no {key!r} output.'

    def statistics(self) -> Dict[str, results.SplitStatistics]:
        if self._statistics is None:
            self._statistics = results.read_statistics(self.output(STATISTICS_GEN, 'statistics'))
        return self._statistics

    def split_statistics(self, split: str) -> results.SplitStatistics:
        statistics = self.statistics()
        if split not in statistics:
            raise Missing(f'The statistics have no {split} split.')
        return statistics[split]

    def feature(self, split: str, name: str) -> results.FeatureStatistics:
        statistics = self.split_statistics(split)
        if name not in statistics.features:
            raise Missing(f'The statistics of the {split} split have no feature {name!r}.')
        return statistics.features[name]

    def evaluation(self) -> results.Evaluation:
        if self._evaluation is None:
            self._evaluation = results.read_evaluation(self.output(EVALUATOR, 'evaluation'))
        return self._evaluation
