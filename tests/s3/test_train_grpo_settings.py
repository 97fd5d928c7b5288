"""The ``grpo`` section: our settings plus any ``trl.GRPOConfig`` field by TRL's name, and the presets.

``fixtures/train_presets_before.json`` holds, for each preset (and a few override sets), the keyword
arguments ``grpo_args`` passed to ``trl.GRPOConfig`` and the resolved config, as written by the code
before the GRPO settings were derived from TRL's fields and the presets became a base plus overrides.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import trl

from s3.cli import main
from s3.config import ConfigError, describe, save_config, to_dict
from s3.train.config import GRPO_DEFAULTS, PRESETS, TRL_FROM_OURS, TrainConfig, load_train_config
from s3.train.trainer import grpo_args

BEFORE = json.loads((Path(__file__).parent / "fixtures" / "train_presets_before.json").read_text())


def _grpo_kwargs(cfg: TrainConfig, world: int, monkeypatch) -> dict:
    seen: dict = {}
    monkeypatch.setattr(trl, "GRPOConfig", lambda **kw: seen.update(kw))
    grpo_args(cfg, world)
    monkeypatch.undo()
    return seen


@pytest.mark.parametrize("case", sorted(BEFORE["kwargs"]))
def test_each_preset_gives_trl_the_same_grpo_config_as_before(case, monkeypatch):
    c = BEFORE["kwargs"][case]
    cfg = load_train_config(preset=c["preset"], overrides=c["overrides"])
    kwargs = json.loads(json.dumps(_grpo_kwargs(cfg, c["world"], monkeypatch), default=str))
    assert kwargs == c["kwargs"]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_resolves_to_the_same_config_as_before(preset):
    assert to_dict(load_train_config(preset=preset)) == BEFORE["config"][preset]
    assert set(PRESETS) | {"defaults"} == set(BEFORE["config"])


def test_our_defaults_and_table_name_real_grpo_config_fields_of_the_right_type():
    fields = {f.name: f for f in dataclasses.fields(trl.GRPOConfig)}
    assert not (set(GRPO_DEFAULTS) | set(TRL_FROM_OURS)) - set(fields)
    assert not set(GRPO_DEFAULTS) & set(TRL_FROM_OURS)
    # each of our defaults is a value TRL accepts for its field (built together with the table's)
    args = grpo_args(load_train_config(preset="tiny"), 1)
    for name, (value, _) in GRPO_DEFAULTS.items():
        if name not in PRESETS["tiny"]["grpo"]:
            assert getattr(args, name) == value, name


def test_any_grpo_config_field_passes_through_by_trl_name_typed_as_trl_declares(monkeypatch):
    cfg = load_train_config(
        preset="tiny", overrides=["grpo.adam_beta2=0.99", "grpo.top_entropy_quantile=0.2", "grpo.beta=0.01"]
    )
    assert cfg.grpo.adam_beta2 == 0.99 and cfg.grpo.beta == 0.01
    kwargs = _grpo_kwargs(cfg, 1, monkeypatch)
    assert (kwargs["adam_beta2"], kwargs["top_entropy_quantile"], kwargs["beta"]) == (0.99, 0.2, 0.01)
    # a command-line string is read as the field's type (TRL's, or our default's)
    cfg = load_train_config(overrides=["grpo.learning_rate=1e-5", "grpo.num_iterations=2", "grpo.bf16=yes"])
    assert (cfg.grpo.learning_rate, cfg.grpo.num_iterations, cfg.grpo.bf16) == (1e-5, 2, True)


def test_an_unknown_grpo_key_is_refused_naming_it_with_close_matches():
    with pytest.raises(
        ConfigError, match=r"grpo\.learnig_rate: .*trl\.GRPOConfig.*did you mean learning_rate"
    ):
        load_train_config(overrides=["grpo.learnig_rate=1e-5"])
    with pytest.raises(ConfigError, match=r"grpo\.max_stepz: .*did you mean max_steps"):
        load_train_config(overrides=["grpo.max_stepz=3"])
    with pytest.raises(ConfigError, match=r"grpo\.adam_beta2: cannot read|expected a number"):
        load_train_config(overrides=["grpo.adam_beta2=high"])


def test_a_trl_field_set_from_a_setting_of_ours_is_refused_naming_ours():
    with pytest.raises(ConfigError, match=r"grpo\.temperature: .*rollout\.temperature"):
        load_train_config(overrides=["grpo.temperature=0.5"])
    with pytest.raises(ConfigError, match=r"grpo\.use_vllm: .*vllm\.enabled"):
        load_train_config(overrides=["grpo.extra={use_vllm: true}"])


def test_legacy_extra_mapping_still_sets_fields_and_wins_over_loose_keys():
    cfg = load_train_config(preset="tiny", overrides=["grpo.extra={learning_rate: 2e-3, adam_epsilon: 1e-6}"])
    assert (cfg.grpo.learning_rate, cfg.grpo.adam_epsilon) == (2e-3, 1e-6)


def test_saved_config_keeps_the_flat_grpo_section_and_loads_back_the_same(tmp_path):
    cfg = load_train_config(preset="135m", overrides=["grpo.adam_beta2=0.99"])
    save_config(cfg, tmp_path / "train_config.yaml")
    text = (tmp_path / "train_config.yaml").read_text()
    assert "  adam_beta2: 0.99\n" in text and "\n  extra:" not in text
    again = load_train_config(str(tmp_path / "train_config.yaml"))
    assert to_dict(again) == to_dict(cfg)


def test_help_config_lists_grpo_config_fields_with_trl_help(capsys):
    lines = describe(TrainConfig, values=load_train_config(preset="7b"))
    by_name = {line.split(" = ")[0]: line for line in lines}
    assert by_name["grpo.learning_rate"].startswith("grpo.learning_rate = 1e-06  # ours: ")
    assert "TRL: The initial learning rate for AdamW" in by_name["grpo.learning_rate"]
    assert by_name["grpo.adam_beta2"].startswith("grpo.adam_beta2 = 0.999  # TRL: ")
    assert "grpo.temperature" not in by_name and "grpo.extra" not in by_name
    assert main(["train", "--preset", "7b", "--help-config"]) == 0
    assert "grpo.bf16 = True  # ours: " in capsys.readouterr().out


def test_settings_copy_and_pickle_with_their_trl_fields():
    import copy
    import pickle

    cfg = load_train_config(preset="7b", overrides=["grpo.adam_beta2=0.99"])
    for again in (copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert to_dict(again) == to_dict(cfg) and again.grpo.adam_beta2 == 0.99
    with pytest.raises(AttributeError, match="grpo.adam_beta1"):
        cfg.grpo.adam_beta1  # noqa: B018  (TRL's default, not set here)
