"""Reporting: leaderboard tables, publishing, analysis, plots, the regression gate, training-set rows."""
