"""The knobs of the ranking model and its training, as the Trainer receives them.

Values live in pipeline/configs.py (one home for settings); this module only says what each
knob means, so that a typo in a config fails loudly instead of being ignored.
"""
import dataclasses
from typing import Any, Dict, Sequence


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    architecture: str  # 'notebook': the tutorial's model; 'hybrid': ours (see model.py)
    embedding_dim: int
    hidden_units: Sequence[int]
    optimizer: str  # 'adagrad' or 'adam'
    learning_rate: float
    batch_size: int  # examples per training step
    # (train examples, batch) pairs: a train split of at least that many examples trains in
    # steps of that batch instead, the largest such pair's (trainer.training_batch_size).
    larger_batches: Sequence[Sequence[int]]
    epochs: int  # the maximum; early stopping on the eval split may end sooner
    early_stopping_patience: int  # epochs without eval improvement; 0 disables
    # Serve the mean of the weights after epochs best - k ... best + k (best: the epoch of
    # the lowest eval RMSE), not the best epoch's alone, if it does better on eval; 0: the
    # best epoch's. Needs a patience of at least k (not 0), so that the epochs after the
    # best are trained.
    averaged_epochs_around_best: int
    # adam: weight decay of embedding rows over one epoch's steps, x learning_rate
    embedding_decay_per_epoch: float
    implicit_feedback_limit: int  # hybrid: rated movies per user in the SVD++ term, at most
    explicit_feedback: bool  # hybrid: the SVD++ term also weighs how each movie was rated
    neighbours: int  # hybrid: similar movies per movie in the item-item term; 0: no term
    dropout: float
    ensemble_size: int  # members from different starting weights, blended when served
    # hybrid: members of plain biased MF (model.BiasedMF) beside the ensemble_size hybrid
    # ones, one per (weight, per) pair: the weight of the L2 penalty on their rows, per
    # rating (model.PER_RATING) or per row and epoch (model.PER_ROW)
    biased_mf_penalties: Sequence[Sequence[Any]]
    # Serve a blend of the kinds of member (hybrid, biased MF), each kind's mean weighted and
    # offset as least squares fits them on eval (trainer.fit_blend), rather than their mean.
    blend_on_eval: bool
    bias_baseline_regularisation: Sequence[float]  # the gate's baseline: chosen on eval
    # After early stopping on eval, refit on train + eval for as many epochs as the weights
    # kept used (the best, or the last averaged), and serve that (the bias baseline too).
    refit_on_eval: bool
    seed: int

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> 'Hyperparameters':
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        missing = sorted(names - set(config))
        if unknown or missing:
            raise ValueError(f'Trainer hyperparameters: unknown {unknown}, missing {missing}. '
                             'Set them in pipeline/configs.py.')
        return cls(**config)
