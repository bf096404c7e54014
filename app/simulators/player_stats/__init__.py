"""Simulator of an operator's player-statistics back office (``player-stats.md``)."""
