"""Baselines that produce generator contexts in the same format as s3: direct, CoT, naive RAG, IRCoT, Search-R1, Search-o1, query rewriting."""
