"""Training the searcher: GRPO on TRL (:mod:`s3.train.trainer`), a supervised warm start
(:mod:`s3.train.warmstart`), the typed config and presets (:mod:`s3.train.config`).

Heavy libraries (torch, transformers, trl) are imported by the modules that use them, not here.
"""
