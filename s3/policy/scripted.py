"""A policy backend that replays given turn texts: deterministic tests, demonstrations, debugging.

It is a real backend: the text of each turn is tokenised with the model's tokenizer and returned as
sampled ids, cut at the first stop string and at ``max_new_tokens`` exactly as a model's output would
be. The rollout tells it which question and turn each prompt belongs to (``meta``).

Example::

    policy = ScriptedPolicy(tokenizer, {
        "Who wrote X?": ['<important_info>[]</important_info><search_complete>False</search_complete>'
                         '<query>{"query": "author of X"}</query>',
                         '<important_info>[2]</important_info><search_complete>True</search_complete>'],
    })
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from s3.policy.base import Generation, PolicyBackend

Script = Mapping[str, Sequence[str]] | Callable[[str, int], str | None]

#: what a scripted policy says once its script for a question has run out
DEFAULT_TURN = "<search_complete>True</search_complete>"


class ScriptedPolicy(PolicyBackend):
    """Replays ``script[question][turn]``; ``script`` may also be ``f(question, turn) -> text | None``.

    Args:
        tokenizer: the tokenizer the texts are written in.
        script: turn texts per question, or a function of (question, turn index).
        default: the text of any turn past the end of a question's script (``None``: raise).
        append_eos: end every turn with the EOS token, as a chat model does.
        use_stop_strings: cut each turn at the first stop string, as a serving engine does; with
            ``False`` the whole text is returned and the rollout's own cut is what applies.
    """

    name = "scripted"

    def __init__(
        self,
        tokenizer: Any,
        script: Script,
        default: str | None = DEFAULT_TURN,
        append_eos: bool = False,
        use_stop_strings: bool = True,
    ):
        self.tokenizer = tokenizer
        self.script = script
        self.default = default
        self.append_eos = append_eos
        self.use_stop_strings = use_stop_strings
        self.calls = 0

    def text_for(self, question: str, turn: int) -> str:
        if callable(self.script):
            text = self.script(question, turn)
        else:
            turns = self.script.get(question)
            if turns is None:
                raise KeyError(f"the script has no turns for question {question!r}")
            text = turns[turn] if turn < len(turns) else None
        if text is None:
            if self.default is None:
                raise IndexError(f"the script for {question!r} has no turn {turn}")
            text = self.default
        return text

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        meta: Sequence[dict[str, Any]] | None = None,
    ) -> list[Generation]:
        self.calls += 1
        if meta is None or len(meta) != len(prompts):
            raise ValueError("ScriptedPolicy needs meta=[{'question', 'turn'}] for every prompt")
        out = []
        for info in meta:
            if info.get("question") is None:  # an idle call (fixed call count): say something short
                text = self.default or ""
            else:
                text = self.text_for(info["question"], int(info.get("turn", 0)))
            cut = _first_stop_end(text, stop) if self.use_stop_strings else None
            stopped = cut is not None
            if stopped:
                text = text[:cut]
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if self.append_eos and not stopped and self.tokenizer.eos_token_id is not None:
                ids.append(self.tokenizer.eos_token_id)
            finish = "stop"
            if len(ids) > max_new_tokens:
                ids, finish = ids[:max_new_tokens], "length"
            out.append(Generation(ids, None, finish))
        return out


def _first_stop_end(text: str, stop: Sequence[str]) -> int | None:
    best = None
    for s in stop:
        i = text.find(s) if s else -1
        if i != -1 and (best is None or i + len(s) < best):
            best = i + len(s)
    return best
