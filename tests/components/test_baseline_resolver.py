"""The Evaluator's baseline resolver, resolved by TFX itself against a real MLMD store.

The pipeline is compiled as LocalDagRunner compiles it. The Trainer's and Evaluator's
executions are recorded with the contexts of their compiled nodes, through the functions
TFX's launcher records them with (a cached Trainer too), and the resolver node's compiled
inputs are resolved by TFX's input resolution, which runs the strategy. So the tests cover
the strategy and its wiring: which models the channels deliver to it, and what it returns.
"""
import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.compiler import compiler, constants
from tfx.dsl.components.common.resolver import ResolverStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.orchestration import metadata
from tfx.orchestration.portable import (execution_publish_utils, inputs_utils,
                                        runtime_parameter_utils)
from tfx.orchestration.portable.mlmd import context_lib
from tfx.proto.orchestration import pipeline_pb2
from tfx.types import Channel, standard_artifacts

from components.baseline_resolver import (BLESSING_KEY, CANDIDATE_KEY, MODEL_KEY, RESOLVER_ID,
                                          LatestBlessedOtherModelStrategy, baseline_resolver)
from tests.pipeline import wiring



def compile_pipeline(**settings) -> pipeline_pb2.Pipeline:
    return compiler.Compiler().compile(wiring.build(**settings))


@pytest.fixture(scope='module')
def compiled() -> pipeline_pb2.Pipeline:
    return compile_pipeline()


class History:
    """Pipeline runs recorded in an in-memory MLMD store, as the launcher records them."""

    def __init__(self, pipeline_ir: pipeline_pb2.Pipeline, handle: metadata.Metadata):
        self.pipeline_ir = pipeline_ir
        self.handle = handle

    def node(self, run_id: str, node_id: str, pipeline_ir=None) -> pipeline_pb2.PipelineNode:
        """A node of the pipeline as the runner executes it in run `run_id`."""
        ir = pipeline_pb2.Pipeline()
        ir.CopyFrom(pipeline_ir or self.pipeline_ir)
        runtime_parameter_utils.substitute_runtime_parameter(
            ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
        [node] = [n.pipeline_node for n in ir.nodes if n.pipeline_node.node_info.id == node_id]
        return node

    def _execute(self, run_id, node_id, inputs, outputs, cached=False):
        """Records an execution of node_id in run run_id; returns its output artifacts,
        as MLMD stored them."""
        node = self.node(run_id, node_id)
        contexts = context_lib.prepare_contexts(self.handle, node.contexts)
        execution = execution_publish_utils.register_execution(
            self.handle, node.node_info.type, contexts, input_artifacts=inputs)
        if cached:
            execution_publish_utils.publish_cached_executions(
                self.handle, contexts, [execution], output_artifacts_maps=[outputs])
            return outputs
        published, _ = execution_publish_utils.publish_succeeded_execution(
            self.handle, execution.id, contexts, output_artifacts=outputs)
        return published

    def train(self, run_id: str) -> standard_artifacts.Model:
        model = standard_artifacts.Model()
        model.uri = f'/unused/root/Trainer/model/{run_id}'
        [model] = self._execute(run_id, 'Trainer', {}, {'model': [model]})['model']
        return model

    def cached_train(self, run_id: str, model: standard_artifacts.Model):
        """The Trainer of run `run_id` served from the cache: the same model again."""
        self._execute(run_id, 'Trainer', {}, {'model': [model]}, cached=True)

    def evaluate(self, run_id: str, model: standard_artifacts.Model, blessed: bool):
        blessing = standard_artifacts.ModelBlessing()
        blessing.uri = f'/unused/root/Evaluator/blessing/{run_id}'
        blessing.set_int_custom_property(
            evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY,
            evaluator_constants.BLESSED_VALUE if blessed
            else evaluator_constants.NOT_BLESSED_VALUE)
        blessing.set_int_custom_property(
            evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
        [blessing] = self._execute(run_id, 'Evaluator', {'model': [model]},
                                   {'blessing': [blessing]})['blessing']
        return blessing

    def resolve(self, run_id: str, pipeline_ir=None) -> dict:
        """What the resolver node of run `run_id` outputs: TFX's input resolution of it
        (in the pipeline compiled as pipeline_ir, by default this test's)."""
        [resolved] = inputs_utils.resolve_input_artifacts(
            pipeline_node=self.node(run_id, RESOLVER_ID, pipeline_ir),
            metadata_handle=self.handle)
        return resolved


def ids(artifacts):
    return [artifact.id for artifact in artifacts]


@pytest.fixture
def history(compiled):
    """A History in a new, empty MLMD store (in memory)."""
    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    with metadata.Metadata(config) as handle:
        yield History(compiled, handle)


def test_the_resolver_reads_the_trainers_model_of_the_current_run(compiled):
    [resolver] = [n.pipeline_node for n in compiled.nodes
                  if n.pipeline_node.node_info.id == RESOLVER_ID]
    [channel] = [spec.channels[0] for spec in resolver.inputs.inputs.values()
                 if spec.channels and spec.channels[0].output_key == 'model'
                 and spec.channels[0].producer_node_query.id == 'Trainer']
    context_types = {query.type.name for query in channel.context_queries}
    assert context_types == {constants.PIPELINE_CONTEXT_TYPE_NAME,
                             constants.PIPELINE_RUN_CONTEXT_TYPE_NAME,
                             constants.NODE_CONTEXT_TYPE_NAME}
    assert 'Trainer' in resolver.upstream_nodes


def test_no_blessed_model_gives_no_baseline(history):
    older = history.train('run-1')
    history.evaluate('run-1', older, blessed=False)
    candidate = history.train('run-2')

    resolved = history.resolve('run-2')

    assert resolved[MODEL_KEY] == [] and resolved[BLESSING_KEY] == []
    assert ids(resolved[CANDIDATE_KEY]) == [candidate.id]


def test_a_cached_candidate_is_not_its_own_baseline(history):
    model = history.train('run-1')
    history.evaluate('run-1', model, blessed=True)
    history.cached_train('run-2', model)

    resolved = history.resolve('run-2')

    # The cached Trainer's output counts as run 2's: the candidate is the blessed model...
    assert ids(resolved[CANDIDATE_KEY]) == [model.id]
    # ...which TFX's own strategy returns as the baseline, and this one leaves out.
    assert resolved[MODEL_KEY] == [] and resolved[BLESSING_KEY] == []
    stock = history.resolve('run-2', compile_pipeline(baseline_strategy=LatestBlessedModelStrategy))
    assert ids(stock[MODEL_KEY]) == [model.id]


def test_an_older_blessed_model_is_the_baseline_of_a_new_one(history):
    older = history.train('run-1')
    older_blessing = history.evaluate('run-1', older, blessed=True)
    candidate = history.train('run-2')

    resolved = history.resolve('run-2')

    assert ids(resolved[MODEL_KEY]) == [older.id]
    assert ids(resolved[BLESSING_KEY]) == [older_blessing.id]
    # Only this run's Trainer output is the candidate, not every model ever trained.
    assert ids(resolved[CANDIDATE_KEY]) == [candidate.id]


def test_the_latest_blessed_model_other_than_the_candidate_is_the_baseline(history):
    first = history.train('run-1')
    history.evaluate('run-1', first, blessed=True)
    second = history.train('run-2')
    second_blessing = history.evaluate('run-2', second, blessed=True)
    third = history.train('run-3')
    history.evaluate('run-3', third, blessed=False)
    history.train('run-4')

    resolved = history.resolve('run-4')
    assert ids(resolved[MODEL_KEY]) == [second.id]
    assert ids(resolved[BLESSING_KEY]) == [second_blessing.id]

    # The second model again, from the cache: the baseline is the blessed one before it.
    history.cached_train('run-5', second)
    assert ids(history.resolve('run-5')[MODEL_KEY]) == [first.id]


def test_the_strategy_names_its_inputs_when_given_others():
    with pytest.raises(ValueError, match=r"needs the inputs \['candidate', 'model', "
                                         r"'model_blessing'\].*gave it \['model', "
                                         r"'model_blessing'\].*baseline_resolver"):
        LatestBlessedOtherModelStrategy().resolve_artifacts(
            None, {MODEL_KEY: [], BLESSING_KEY: []})


def test_the_stock_strategy_gets_exactly_its_two_channels():
    candidate = Channel(type=standard_artifacts.Model)
    stock = baseline_resolver(candidate, LatestBlessedModelStrategy)
    assert set(stock.raw_inputs) == {MODEL_KEY, BLESSING_KEY}
    ours = baseline_resolver(candidate)
    assert set(ours.raw_inputs) == {MODEL_KEY, BLESSING_KEY, CANDIDATE_KEY}
    assert ours.raw_inputs[CANDIDATE_KEY] is candidate
    assert stock.id == ours.id == RESOLVER_ID

    class Other(ResolverStrategy):
        def resolve_artifacts(self, store, input_dict):
            return input_dict

    with pytest.raises(ValueError, match='not Other'):
        baseline_resolver(candidate, Other)
