"""What TFX's Trainer executor hands run_fn, rebuilt from a finished local run's metadata:
the benchmarks that replay the Trainer (trainer_speed.py, choose_on_eval.py) start here."""
import os

from tfx.components.trainer import fn_args_utils
from tfx.types import standard_component_specs as specs

from runs import record
from runs.output_dir import OutputDir


def of_last_run(output_dir: str, work: str):
    """run_fn's FnArgs for the last run in output_dir: its examples, Transform graph and
    Trainer settings (splits, steps, custom_config), with the model written under `work`."""
    run = record.RunRecord.latest(OutputDir(output_dir).metadata)
    examples = run.output(record.EXAMPLE_GEN, 'examples')
    transform_graph = run.output(record.TRANSFORM, 'transform_graph')
    execution = run.executions().get(record.TRAINER)
    if examples is None or transform_graph is None or execution is None:
        raise SystemExit(f'{output_dir}: its last run did not reach the Trainer; run '
                         f'local_runner.py --output-dir {output_dir} first.')
    # The Trainer's own exec properties, as recorded.
    exec_properties = {key: record.custom_property(execution, key)
                       for key in (specs.TRAIN_ARGS_KEY, specs.EVAL_ARGS_KEY,
                                   specs.CUSTOM_CONFIG_KEY)}
    fn_args = fn_args_utils.get_common_fn_args(
        {specs.EXAMPLES_KEY: [examples], specs.TRANSFORM_GRAPH_KEY: [transform_graph]},
        exec_properties, working_dir=work)
    # What the executor adds: the transform output and where the model goes.
    fn_args.transform_output = fn_args.transform_graph_path
    fn_args.serving_model_dir = os.path.join(work, 'serving')
    fn_args.model_run_dir = os.path.join(work, 'run')
    return fn_args
