"""The state of one search episode and the rules that decide which documents reach the generator.

An :class:`Episode` holds records, never rendered text: the initial documents, the documents every
search returned, each turn's :class:`~s3.protocol.Action` and the selections. :meth:`Episode.context`
applies the explicit rules of :class:`EpisodeConfig` to them.

Example::

    ep = Episode("who wrote X?", initial_docs, EpisodeConfig())
    ep.record(action)                    # binds action.selected to the current window
    ep.add_results("author of X", docs)  # a new information window
    ep.context()                         # -> list[Doc] for the generator
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from retrievers.doc import Doc, dedupe_docs
from s3.config import field

if TYPE_CHECKING:  # the protocol builds episodes; here its Action is only an annotation
    from s3.protocol import Action


@dataclass
class EpisodeConfig:
    """How an episode runs and which documents reach the generator.

    **What a turn is.** A *turn* is one search: the searcher writes a query, the retriever returns
    ``docs_per_search`` documents (the new *information window*), and the searcher's next generation
    selects from that window. ``max_turns`` is the maximum number of searches. Every episode therefore
    runs at most ``max_turns + 1`` policy generations: the last one can only select from the last
    window and stop; a query written in it is not searched. Invalid generations (no usable action)
    use up a generation too. This follows the paper: ``8-3-3`` means 3 searches of 8 documents with
    at most 3 selected from each, so at most 9 selected documents ("#MaxContexts" = 9). The reference
    code counts differently: its ``max_turns=3`` runs 4 generate-and-search steps plus one final
    generation with search disabled (up to 4 searches, 5 generations); reproduce that with
    ``max_turns=4`` here.

    **Windows and ids.** Selected ids are 1-based positions in the current window: the initial
    documents before the first search, then the results of the latest search. A window keeps the first
    selection made for it; later selections for the same window are ignored and counted.

    **Context rules** (:meth:`Episode.context`):

    * ``include_initial="always"``: every initial document is in the context, selected or not.
      ``"if_unselected"``: the initial block follows the same rules as a search block, so a selection
      made from it keeps only the selected documents; this is what the reference code does (a
      selection binds to the information block it follows, the initial one included) and what the
      paper describes (the context is the union of the selections), and the ``7b`` training preset's
      choice. ``"never"``: no initial document reaches the generator (the paper's "w/o init"
      ablation; the searcher still sees them in its prompt if ``initial_k > 0``).
    * A search block with a selection contributes the selected documents; one without a selection
      contributes all its documents (``unselected_block="all"``, the reference code) or none
      (``"none"``, the paper's "only selected documents are visible").
    * ``use_selection=False`` passes every retrieved document (the "w/o selection" ablation).
    * ``order="blocks"`` keeps block order (initial first) and selection order within a block;
      ``"selected_first"`` puts selected documents before unselected blocks (the reference code).
    * ``dedupe`` drops repeated documents (same id, or same title and text), keeping the first.
    """

    docs_per_search: int = field(8, help="documents the retriever returns per search (k)")
    select_cap: int | None = field(3, help="most documents kept from one window's selection; null = no cap")
    max_turns: int = field(3, help="most searches per episode; generations <= max_turns + 1")
    initial_k: int = field(3, help="initial (naive RAG) documents for the raw question; 0 = none")
    include_initial: Literal["always", "if_unselected", "never"] = field(
        "always", help="whether the initial documents reach the generator"
    )
    unselected_block: Literal["all", "none"] = field(
        "all", help="what a search block without a selection contributes"
    )
    use_selection: bool = field(True, help="false: every retrieved document reaches the generator")
    order: Literal["blocks", "selected_first"] = field("blocks", help="order of the context documents")
    dedupe: bool = field(True, help="drop repeated documents (same id, or same title and text)")
    final_turn: bool = field(
        True,
        help="after the last search, one more generation selects from its results and stops; false: the "
        "episode ends with the last search, whose block then contributes by the rules above",
    )

    def __post_init__(self) -> None:
        if self.docs_per_search < 1:
            raise ValueError(f"docs_per_search must be >= 1, got {self.docs_per_search}")
        if self.select_cap is not None and self.select_cap < 0:
            raise ValueError(f"select_cap must be >= 0 or null, got {self.select_cap}")
        if self.max_turns < 0:
            raise ValueError(f"max_turns must be >= 0, got {self.max_turns}")
        if self.initial_k < 0:
            raise ValueError(f"initial_k must be >= 0, got {self.initial_k}")
        for name, allowed in (
            ("include_initial", ("always", "if_unselected", "never")),
            ("unselected_block", ("all", "none")),
            ("order", ("blocks", "selected_first")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @property
    def max_generations(self) -> int:
        """Policy generations per episode at most: one per search plus the final selecting one (if any)."""
        return self.max_turns + (1 if self.final_turn else 0)

    def search_allowed(self, searches: int, generations: int) -> bool:
        """Whether the query of generation number ``generations`` (1-based) may be searched after
        ``searches`` searches: fewer than ``max_turns`` searches so far, and a final selecting
        generation still to come (unless ``final_turn`` is off)."""
        return searches < self.max_turns and (generations < self.max_generations or not self.final_turn)


@dataclass
class Block:
    """One information window: the initial documents (``query is None``) or one search's results."""

    docs: list[Doc]
    query: str | None = None
    selected: list[int] | None = None
    turn: int = 0

    @property
    def is_initial(self) -> bool:
        return self.query is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "query": self.query,
            "selected": self.selected,
            "docs": [d.to_dict(with_score=True) for d in self.docs],
        }


class Episode:
    """One question's search: its information windows, actions and selections; see :class:`EpisodeConfig`.

    Args:
        question: the question being searched for.
        initial_docs: the naive-RAG documents (truncated to ``config.initial_k``).
        config: the rules.
    """

    def __init__(self, question: str, initial_docs: list[Doc], config: EpisodeConfig | None = None):
        self.question = question
        self.config = config or EpisodeConfig()
        self.blocks: list[Block] = [Block(docs=list(initial_docs)[: self.config.initial_k], turn=0)]
        self.actions: list[Action] = []
        self.counters: Counter = Counter()
        self.finish_reason: str | None = None
        self.answer: str | None = None

    # -- state ----------------------------------------------------------------------------------
    @property
    def window(self) -> Block:
        """The current information window (the latest block)."""
        return self.blocks[-1]

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def searches(self) -> int:
        return len(self.blocks) - 1

    @property
    def generations(self) -> int:
        return len(self.actions)

    def can_search(self) -> bool:
        """Whether the query of the generation just recorded may be searched (call after :meth:`record`).

        True while fewer than ``max_turns`` searches ran and that generation is not the last one (with
        ``final_turn`` off, the last generation's query is searched and the episode ends there).
        """
        return self.config.search_allowed(self.searches, self.generations)

    def finish(self, reason: str) -> None:
        """End the episode (``complete``, ``max_turns``, ``budget``, ...); the first reason sticks."""
        if self.finish_reason is None:
            self.finish_reason = reason

    # -- transitions ----------------------------------------------------------------------------
    def record(self, action: Action) -> None:
        """Record one generation's action: count it and bind its selection to the current window."""
        self.actions.append(action)
        self.counters["generations"] += 1
        self.counters[f"action_{action.kind}"] += 1
        for key, n in action.repairs.items():
            self.counters[f"repair_{key}"] += n
        if action.selected is not None:
            if self.window.selected is None:
                self.window.selected = list(action.selected)
                self.counters["docs_selected"] += len(action.selected)
            else:
                self.counters["reselect_ignored"] += 1
        if action.answer is not None:
            self.answer = action.answer

    def add_results(self, query: str, docs: list[Doc]) -> Block:
        """Add one search's results as the new information window."""
        block = Block(docs=list(docs), query=query, turn=self.generations)
        self.blocks.append(block)
        self.counters["searches"] += 1
        return block

    # -- the generator's context ----------------------------------------------------------------
    def _block_docs(self, block: Block) -> tuple[list[Doc], bool]:
        """(documents the block contributes, whether they are a selection)."""
        cfg = self.config
        if block.is_initial:
            if cfg.include_initial == "never":
                return [], False
            if cfg.include_initial == "always":
                return list(block.docs), False
        if not cfg.use_selection:
            return list(block.docs), False
        if block.selected is not None:
            return [block.docs[i - 1] for i in block.selected if 1 <= i <= len(block.docs)], True
        return (list(block.docs) if cfg.unselected_block == "all" else []), False

    def context(self) -> list[Doc]:
        """The documents the generator sees, by the rules of :class:`EpisodeConfig`."""
        parts = [self._block_docs(b) for b in self.blocks]
        if self.config.order == "selected_first":
            ordered = [d for docs, sel in parts if sel for d in docs] + [
                d for docs, sel in parts if not sel for d in docs
            ]
        else:
            ordered = [d for docs, _ in parts for d in docs]
        return dedupe_docs(ordered, strip=True) if self.config.dedupe else ordered

    def selected_docs(self) -> list[Doc]:
        """Only the documents the searcher explicitly selected, in block order (de-duplicated)."""
        out = [b.docs[i - 1] for b in self.blocks if b.selected for i in b.selected if 1 <= i <= len(b.docs)]
        return dedupe_docs(out, strip=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "finish_reason": self.finish_reason,
            "answer": self.answer,
            "blocks": [b.to_dict() for b in self.blocks],
            "actions": [a.to_dict() for a in self.actions],
            "context": [d.to_dict(with_score=True) for d in self.context()],
            "counters": dict(self.counters),
        }
