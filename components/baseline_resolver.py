"""The Evaluator's baseline: the latest blessed model other than the candidate itself.

TFX's LatestBlessedModelStrategy returns the latest blessed model, whichever it is. When the
Trainer is served from the cache, the candidate is the very model that the previous run
blessed, so the Evaluator would get new inputs (the model as its own baseline), run again,
compare the model with itself and refuse to bless it. LatestBlessedOtherModelStrategy also
takes the candidate and never returns it: an unchanged run then gives the Evaluator the
inputs it had before, and TFX serves it and the Pusher from the cache; a new candidate is
held, as before, to the served model.

The candidate channel is the Trainer's output in this pipeline, which TFX resolves to the
current run's model, a cached one included: a cached execution is recorded in the new
run's context with the cached model as its output.

KubeflowV2DagRunner compiles only TFX's own strategy, with exactly two inputs, into Vertex
AI resolver tasks; baseline_resolver() builds the Resolver for either strategy.
"""
from typing import Dict, List, Optional, Type

from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.components.common.resolver import Resolver, ResolverStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.types import Channel, standard_artifacts

import ml_metadata as mlmd

RESOLVER_ID = 'latest_blessed_model_resolver'
MODEL_KEY = 'model'
BLESSING_KEY = 'model_blessing'
CANDIDATE_KEY = 'candidate'


class LatestBlessedOtherModelStrategy(ResolverStrategy):
    """The newest blessed Model and its ModelBlessing, leaving out the candidate Model(s).

    Inputs, by key: `model` (every Model of the pipeline), `model_blessing` (every
    ModelBlessing), `candidate` (the model about to be evaluated). Returns `model` and
    `model_blessing` with one artifact each, or empty when no other model was ever
    blessed; `candidate` is passed through unchanged.
    """

    def resolve_artifacts(
            self, store: mlmd.MetadataStore,
            input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        expected = {MODEL_KEY, BLESSING_KEY, CANDIDATE_KEY}
        if set(input_dict) != expected:
            raise ValueError(
                f'{type(self).__name__} needs the inputs {sorted(expected)}, but the '
                f'Resolver gave it {sorted(input_dict)}. Build the Resolver with '
                f'{__name__}.baseline_resolver(candidate=trainer.outputs["model"]).')
        candidate_ids = {model.id for model in input_dict[CANDIDATE_KEY]}
        blessings = {
            blessing.get_int_custom_property(
                evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY): blessing
            for blessing in input_dict[BLESSING_KEY]
            if blessing.get_int_custom_property(
                evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY) ==
            evaluator_constants.BLESSED_VALUE}
        result = {MODEL_KEY: [], BLESSING_KEY: [],
                  CANDIDATE_KEY: list(input_dict[CANDIDATE_KEY])}
        # MLMD ids grow with time: the highest id is the latest model, as TFX's strategy
        # decides.
        for model in sorted(input_dict[MODEL_KEY], key=lambda a: a.id, reverse=True):
            if model.id in blessings and model.id not in candidate_ids:
                result[MODEL_KEY] = [model]
                result[BLESSING_KEY] = [blessings[model.id]]
                break
        return result


def baseline_resolver(candidate: types.BaseChannel,
                      strategy_class: Type[ResolverStrategy] = LatestBlessedOtherModelStrategy
                      ) -> Resolver:
    """The Resolver of the Evaluator's baseline, its output 'model', with either strategy.

    LatestBlessedOtherModelStrategy also reads `candidate`; TFX's LatestBlessedModelStrategy
    takes only the two channels that KubeflowV2DagRunner's compiler accepts.
    """
    channels = {MODEL_KEY: Channel(type=standard_artifacts.Model),
                BLESSING_KEY: Channel(type=standard_artifacts.ModelBlessing)}
    if issubclass(strategy_class, LatestBlessedOtherModelStrategy):
        channels[CANDIDATE_KEY] = candidate
    elif strategy_class is not LatestBlessedModelStrategy:
        raise ValueError(f'The baseline resolver takes LatestBlessedOtherModelStrategy or '
                         f"TFX's LatestBlessedModelStrategy, not {strategy_class.__name__}.")
    return Resolver(strategy_class=strategy_class, **channels).with_id(RESOLVER_ID)
