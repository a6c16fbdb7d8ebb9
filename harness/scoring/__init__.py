"""Scoring: answer classification, metrics, side-effect ratios, statistics; lm-eval tasks run through evaluate."""
