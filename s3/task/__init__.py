"""The embedded default task: a seeded synthetic world, multi-hop questions and their ground truth.

The task runs the whole s3 pipeline on any machine: a ~2,000-passage corpus of invented entities,
600/150/150 train/val/test questions (three quarters 2-hop, whose answer passage BM25 does not find
from the question alone), and the ground truth a scripted searcher needs for demonstrations.
Statistics (naive-RAG and oracle GenAcc, recall at k) are in ``docs/embedded-task.md``, measured
with ``s3 datasheet``.

Example::

    from s3.task import build_embedded_task, demonstration_turns
    task_dir = build_embedded_task("runs/task", seed=0)
"""

from s3.task.build import TASK_VERSION, EmbeddedTaskConfig, build_embedded_task, generate_task
from s3.task.demonstrations import DemoTurn, SearchPlan, demonstration_turns
from s3.task.questions import ONE_HOP, TWO_HOP
from s3.task.world import WorldConfig

__all__ = [
    "TASK_VERSION",
    "EmbeddedTaskConfig",
    "WorldConfig",
    "build_embedded_task",
    "generate_task",
    "DemoTurn",
    "SearchPlan",
    "demonstration_turns",
    "ONE_HOP",
    "TWO_HOP",
]
