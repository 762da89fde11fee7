"""Decisions people can question: scorecard points, risk grades and reason codes."""
