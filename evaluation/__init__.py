"""Answer metrics (EM, F1, span check, LLM judge, GenAcc), evaluation runs, tables and plots."""
