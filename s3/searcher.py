"""The public inference API: a trained searcher that gathers documents for any generator.

``Searcher`` runs greedy episodes (no trainer involved): it retrieves the initial documents for the
raw question itself, lets the policy search and select, and returns the documents the generator
should read, with the full trace.

Example::

    from s3 import Searcher
    searcher = Searcher.from_pretrained("runs/searcher", retriever="indexes/wiki-bm25")
    result = searcher.search("Where was the author of Dune born?")
    for doc in result.documents:
        print(doc.title)
    results = searcher.search_batch(["q1", "q2"])
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from retrievers.base import Retriever
from retrievers.doc import Doc
from s3.config import field, from_dict, to_dict
from s3.episode import EpisodeConfig
from s3.policy.base import PolicyBackend
from s3.presets import DEFAULT_PRESET, episode_preset
from s3.protocol import PROTOCOL_OPTIONS_HELP, Protocol
from s3.protocol_registry import protocol_from_config, protocol_option_names
from s3.rollout import RolloutConfig, Trajectory, run_rollout

log = logging.getLogger(__name__)

#: file in a checkpoint folder that records how its searcher was trained (protocol, episode rules)
SEARCHER_CONFIG_FILE = "s3_searcher.json"


@dataclass
class SearcherConfig:
    """How a :class:`Searcher` runs: protocol, episode rules and decoding (greedy by default)."""

    protocol: str = field("s3", help="tag language: 's3' (or a registered protocol such as 'search-r1')")
    boolean_queries: bool = field(False, help="ask for Boolean keyword queries (BM25 variant of the prompt)")
    protocol_options: dict[str, Any] = field(default_factory=dict, help=PROTOCOL_OPTIONS_HELP)
    episode: EpisodeConfig = field(
        default_factory=lambda: episode_preset(DEFAULT_PRESET), help="episode rules"
    )
    rollout: RolloutConfig = field(default_factory=RolloutConfig.greedy, help="decoding and token budgets")
    batch_size: int = field(64, help="questions per batched rollout in search_batch")
    preset: str = field("", help="the preset these rules came from (s3 train/warmstart --preset), if any")

    @classmethod
    def from_training(cls, cfg: Any) -> SearcherConfig:
        """The rules a warm-start or training config taught: its protocol, episode rules, token budgets
        and preset, decoded greedily (what ``s3 warmstart`` and ``s3 train`` save in a checkpoint)."""
        from s3.presets import BUDGET_FIELDS

        budgets = {k: getattr(cfg.rollout, k) for k in BUDGET_FIELDS}
        return cls(
            protocol=cfg.protocol,
            protocol_options=dict(cfg.protocol_options),
            episode=cfg.episode,
            rollout=RolloutConfig.greedy(**budgets),
            preset=getattr(cfg, "preset", "") or "",
        )

    def apply_preset(self, name: str) -> SearcherConfig:
        """Take a preset's rules (:func:`s3.presets.searcher_settings`): an episode preset sets the
        episode rules; a training preset also sets the protocol and the token budgets."""
        from s3.presets import searcher_settings

        settings = searcher_settings(name)
        self.episode = from_dict(EpisodeConfig, settings["episode"], where=f"preset {name}")
        if "protocol" in settings:
            self.protocol = settings["protocol"]
            self.protocol_options = settings["protocol_options"]
            for key, value in settings["rollout"].items():
                setattr(self.rollout, key, value)
        self.preset = name
        return self

    def mismatch(self, protocol: str, episode: EpisodeConfig) -> list[str]:
        """The settings in which ``protocol``/``episode`` differ from these rules (empty: they agree)."""
        out = [] if protocol == self.protocol else [f"protocol {self.protocol} vs {protocol}"]
        for f in dataclasses.fields(EpisodeConfig):
            mine, theirs = getattr(self.episode, f.name), getattr(episode, f.name)
            if mine != theirs:
                out.append(f"episode.{f.name} {mine} vs {theirs}")
        return out

    def make_protocol(self) -> Protocol:
        """The protocol instance these settings describe (``protocol_options`` passed to it)."""
        options = dict(self.protocol_options)
        if self.boolean_queries and "boolean_queries" in protocol_option_names(self.protocol):
            options["boolean_queries"] = True
        return protocol_from_config(self.protocol, options)

    @classmethod
    def for_mode(cls, mode: str = "s3") -> SearcherConfig:
        """The default config of a mode: ``"s3"`` (8-3-3) or ``"search-r1"`` (the model searches and
        answers itself: 3 documents a search, up to 4 searches, no selection; :mod:`s3.protocol_r1`)."""
        if mode == "s3":
            return cls()
        from s3.protocol_r1 import NAME, is_r1, r1_episode_config

        if not is_r1(mode):
            raise ValueError(f"unknown searcher mode {mode!r}; choose 's3' or 'search-r1'")
        return cls(protocol=NAME, episode=r1_episode_config())


@dataclass
class SearchResult:
    """What a search found.

    Attributes:
        question: the question.
        documents: the documents for the generator (``Episode.context()`` under the episode rules).
        selected: only the documents the searcher explicitly selected.
        queries: the queries it issued, in order.
        finish_reason: ``complete``, ``max_turns`` or ``budget`` (``answer`` in Search-R1 mode).
        answer: the searcher's own answer (Search-R1 mode; ``None`` for s3, whose generator answers).
        trace: the full episode: windows, actions, turn texts, and ``prompt``, the chat messages the
            searcher was given (JSON-ready).
        trajectory: the token-level trajectory (ids, env mask), for inspection.
    """

    question: str
    documents: list[Doc]
    selected: list[Doc] = dc_field(default_factory=list)
    queries: list[str] = dc_field(default_factory=list)
    finish_reason: str | None = None
    answer: str | None = None
    trace: dict[str, Any] = dc_field(default_factory=dict)
    trajectory: Trajectory | None = dc_field(default=None, repr=False)

    @classmethod
    def from_trajectory(cls, traj: Trajectory) -> SearchResult:
        ep = traj.episode
        return cls(
            question=traj.question,
            documents=ep.context(),
            selected=ep.selected_docs(),
            queries=[b.query for b in ep.blocks if b.query is not None],
            finish_reason=ep.finish_reason,
            answer=ep.answer,
            trace={
                "episode": ep.to_dict(),
                "turns": [t.to_dict() for t in traj.turns],
                "stats": traj.stats(),
                "prompt": traj.messages,
            },
            trajectory=traj,
        )

    def to_dict(self, with_trace: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "documents": [d.to_dict(with_score=True) for d in self.documents],
            "selected": [d.id for d in self.selected],
            "queries": self.queries,
            "finish_reason": self.finish_reason,
        }
        if self.answer is not None:
            out["answer"] = self.answer
        if with_trace:
            out["trace"] = self.trace
        return out


class Searcher:
    """A trained searcher over a retriever: ``search(question) -> SearchResult``.

    Args:
        policy: the searcher model's backend (:mod:`s3.policy`).
        retriever: a ``Retriever``, or a spec for ``retrievers.load_retriever`` (index folder, URL).
        config: protocol, episode rules and decoding; default 8-3-3, greedy.
        protocol: a protocol instance overriding ``config.protocol``.
        mode: without ``config``, the default config of ``"s3"`` or ``"search-r1"`` (:meth:`SearcherConfig.for_mode`).
    """

    def __init__(
        self,
        policy: PolicyBackend,
        retriever: Retriever | str | os.PathLike | dict[str, Any],
        config: SearcherConfig | None = None,
        protocol: Protocol | None = None,
        mode: str | None = None,
    ):
        if not isinstance(retriever, Retriever):
            from retrievers import load_retriever

            retriever = load_retriever(retriever)
        self.policy = policy
        self.retriever = retriever
        self.config = config or SearcherConfig.for_mode(mode or "s3")
        self.protocol = protocol or self.config.make_protocol()

    @classmethod
    def from_pretrained(
        cls,
        path_or_hub_id: str | os.PathLike,
        retriever: Retriever | str | os.PathLike | dict[str, Any],
        backend: str = "transformers",
        preset: str | None = None,
        device: str | None = "auto",
        config: SearcherConfig | None = None,
        mode: str | None = None,
        **backend_kwargs: Any,
    ) -> Searcher:
        """Load a searcher checkpoint (a Hugging Face model folder or hub id).

        Args:
            path_or_hub_id: the model; if its folder holds ``s3_searcher.json`` (written by training),
                its protocol and episode rules are used.
            retriever: a ``Retriever`` or an index folder / ``/retrieve`` URL.
            backend: ``"transformers"`` (CPU/GPU), ``"vllm"`` (GPU) or ``"openai"`` (a served model;
                pass ``base_url=`` and ``model=``).
            preset: a preset overriding the saved rules: an episode preset (``"8-3-3"``, ``"5-3-4"``,
                ...) or a training preset (``"tiny"``, ``"7b"``: protocol, episode rules and budgets).
            device: for the transformers backend: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
            config: a full :class:`SearcherConfig` (wins over the saved one and ``preset``).
            mode: ``"s3"`` or ``"search-r1"``; when the saved config is of another protocol (or there is
                none), the mode's default config is used (a public Search-R1 checkpoint: ``mode="search-r1"``).
            **backend_kwargs: passed to the backend (``dtype``, ``base_url``, ``gpu_memory_utilization``...).
        """
        from s3.models import resolve_model
        from s3.policy import load_policy

        path = str(path_or_hub_id)
        if backend != "openai":  # a packaged model (e.g. smollm2-135m-instruct) loads from its local copy
            path = resolve_model(path)
        if config is None:
            saved = config = load_searcher_config(path)
            if config is None or (
                mode is not None and config.protocol != SearcherConfig.for_mode(mode).protocol
            ):
                config = SearcherConfig.for_mode(mode or "s3")
            if preset is not None:
                warn_mismatch(path, saved, preset)
                config.apply_preset(preset)
        if backend in ("transformers", "hf"):
            backend_kwargs.setdefault("device", device)
        policy = load_policy(path, backend=backend, **backend_kwargs)
        return cls(policy, retriever, config)

    def save_config(self, directory: str | os.PathLike) -> Path:
        """Write ``s3_searcher.json`` into a checkpoint folder so ``from_pretrained`` restores the rules."""
        return save_searcher_config(self.config, directory)

    def search(self, question: str, initial_docs: Sequence[Doc] | None = None) -> SearchResult:
        """Search for one question; ``initial_docs`` replaces the retriever's top ``initial_k``."""
        docs = None if initial_docs is None else [list(initial_docs)]
        return self.search_batch([question], initial_docs=docs)[0]

    def search_batch(
        self,
        questions: Sequence[str],
        initial_docs: Sequence[Sequence[Doc]] | None = None,
        progress: bool = False,
    ) -> list[SearchResult]:
        """Search for many questions, ``config.batch_size`` episodes per batched rollout, in order."""
        questions = [str(q) for q in questions]
        if initial_docs is not None and len(initial_docs) != len(questions):
            raise ValueError(f"{len(questions)} questions but {len(initial_docs)} lists of initial documents")
        size = max(1, self.config.batch_size)
        starts = range(0, len(questions), size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="searching", unit="batch")
        results: list[SearchResult] = []
        for start in starts:
            batch_docs = None if initial_docs is None else initial_docs[start : start + size]
            trajs = run_rollout(
                self.policy,
                self.retriever,
                self.protocol,
                questions[start : start + size],
                initial_docs=batch_docs,
                episode_cfg=self.config.episode,
                rollout_cfg=self.config.rollout,
            )
            results.extend(SearchResult.from_trajectory(t) for t in trajs)
        return results

    def close(self) -> None:
        self.policy.close()
        self.retriever.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def save_searcher_config(config: SearcherConfig, directory: str | os.PathLike) -> Path:
    """Write ``config`` as ``directory/s3_searcher.json``; returns the file."""
    path = Path(directory) / SEARCHER_CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(config), indent=2))
    return path


def warn_mismatch(checkpoint: str, saved: SearcherConfig | None, preset: str) -> None:
    """Log a warning when a checkpoint's saved rules differ from those of ``preset`` (one line)."""
    if saved is None:
        return
    from s3.presets import searcher_settings

    settings = searcher_settings(preset)  # an episode preset keeps the checkpoint's protocol
    episode = from_dict(EpisodeConfig, settings["episode"], where=f"preset {preset}")
    diff = saved.mismatch(settings.get("protocol", saved.protocol), episode)
    if diff:
        log.warning(
            "%s was trained with %s but preset %s differs (%s); the preset's rules are used",
            checkpoint, f"preset {saved.preset}" if saved.preset else "other rules", preset, "; ".join(diff),
        )  # fmt: skip


def load_searcher_config(path_or_hub_id: str) -> SearcherConfig | None:
    """The :class:`SearcherConfig` saved in a checkpoint folder, or ``None`` when there is none."""
    path = Path(path_or_hub_id) / SEARCHER_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return from_dict(SearcherConfig, data, where=str(path))
