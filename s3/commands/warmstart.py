"""``s3 warmstart``: supervised warm start of a small searcher on demonstration trajectories (TRL SFT).

    s3 warmstart --preset tiny model=runs/tiny retriever=runs/pre/index train_file=runs/pre/train.jsonl
    s3 warmstart --preset tiny source=teacher teacher.model=Qwen/Qwen2.5-14B-Instruct \
        teacher.base_url=http://127.0.0.1:8000/v1 model=runs/tiny retriever=runs/pre/index \
        train_file=runs/pre/train.jsonl
    s3 warmstart --preset 7b source=none model=Qwen/Qwen2.5-7B-Instruct output_dir=runs/ws

Demonstrations (``source``): ``scripted`` (the embedded task's ground truth), ``gold`` (the supporting
passages HotpotQA-style data names), ``teacher`` (a teacher model's episodes that gain beyond naive
RAG: rejection sampling), ``none`` (no fine-tuning: the model is saved with the preset's rules, to
start GRPO from an instruction-tuned model). ``--preset`` takes the protocol, episode rules and token
budgets of a training preset, so the warm start teaches what ``s3 train --preset`` trains under.
Settings come from the defaults, then ``--preset``, then ``--config FILE.yaml``, then ``key=value``
overrides (``s3 warmstart --preset tiny --help-config`` lists every key with the preset's values).
The model is written to ``output_dir/final``.
"""

from __future__ import annotations

import argparse

from s3.commands import add_command, print_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, __name__, help="supervised warm start on demonstrations")
    p.add_argument("overrides", nargs="*", help="config overrides key=value (e.g. epochs=3)")
    p.add_argument(
        "--preset", help="a training preset (tiny, 7b, search-r1, search-r1-tiny) or an episode preset"
    )
    p.add_argument("--config", help="YAML config file")
    p.add_argument(
        "--help-config",
        action="store_true",
        help="list every config key (with --preset: the preset's values)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3.config import load_config
    from s3.train.warmstart import WarmstartConfig, warmstart, warmstart_preset

    preset = warmstart_preset(args.preset) if args.preset else None
    if args.help_config:
        return print_settings(WarmstartConfig, values=load_config(WarmstartConfig, preset=preset))
    cfg = load_config(WarmstartConfig, args.config, list(args.overrides), preset=preset)
    cfg.check()
    from s3.errors import check_model_source

    check_model_source(cfg.model, "model")
    print(warmstart(cfg))
    return 0
