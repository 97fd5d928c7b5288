"""The learning-signal guard: warn when GRPO has nothing to learn from.

GRPO learns from the differences between the rewards of one question's samples. When every group's
rewards are equal (``frac_reward_zero_std`` of TRL's log near 1) the advantages, and so the gradient
of the policy loss, are zero: training runs to the end and changes nothing. :class:`SignalGuard`
watches the log and, after ``patience`` such steps in a row, warns once with the likely causes and
the settings that change them.

Example::

    guard = SignalGuard(patience=3)
    guard.observe(step=1, logs={"frac_reward_zero_std": 1.0})   # True once the warning is given
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

ADVICE = (
    "GRPO gets no learning signal: the rewards of every question's samples were equal in "
    "{share:.0%}+ of the groups for {steps} steps in a row, so the policy gradient is zero. Likely causes: "
    "(1) the filter: data.train_file keeps only questions naive RAG gets wrong (s3 precompute "
    "drop_rag_correct=true), and the generator gets none of them right with any context: try "
    "drop_rag_correct=false, or an easier set; "
    "(2) the model: it writes the same thing every sample (an untrained or collapsed searcher): warm-start "
    "it (s3 warmstart --preset), raise rollout.temperature, or grpo.num_generations; "
    "(3) the generator: it scores 0 whatever it reads (check generator.kind/model; reward.kind=acc "
    "rewards GenAcc without the baseline)."
)


class SignalGuard:
    """Counts consecutive steps whose share of zero-variance reward groups is at least ``threshold``.

    Args:
        patience: steps in a row before the warning.
        threshold: share of groups with equal rewards that counts as "no signal".
    """

    def __init__(self, patience: int = 3, threshold: float = 0.95) -> None:
        self.patience = patience
        self.threshold = threshold
        self.streak = 0
        self.warned = False

    def observe(self, step: int, logs: dict[str, Any]) -> bool:
        """Read one training log record; returns True when this record triggered the warning."""
        share = logs.get("frac_reward_zero_std")
        if share is None:
            return False
        self.streak = self.streak + 1 if float(share) >= self.threshold else 0
        if self.streak >= self.patience and not self.warned:
            self.warned = True
            log.warning(ADVICE.format(share=self.threshold, steps=self.streak) + f" (at step {step})")
            return True
        return False


def signal_guard_callback(patience: int = 3, threshold: float = 0.95) -> Any:
    """A ``transformers.TrainerCallback`` running a :class:`SignalGuard` on the training log."""
    from transformers import TrainerCallback

    class SignalGuardCallback(TrainerCallback):
        def __init__(self) -> None:
            self.guard = SignalGuard(patience, threshold)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                self.guard.observe(state.global_step, logs)

    return SignalGuardCallback()
