"""The per-post path benchmark runs what the Ingestor runs on the labelled set's texts and banks."""
from __future__ import annotations

from crisiscomms_local.bench_path import GOAL_POSTS_PER_S, bench_path, render


def test_the_path_benchmark_relates_scores_and_reports_its_figures() -> None:
    figures = bench_path(600)
    assert figures["posts"] == 600 and figures["topics"] >= 20
    # the set is mostly about its banks; ambiguous-name posts about something else are not
    assert 0.5 * 600 < figures["related"] < 600
    assert figures["path_posts_per_s"] < figures["scoring_posts_per_s"]   # the path includes scoring
    assert figures["ratio_to_goal"] == figures["path_posts_per_s"] / GOAL_POSTS_PER_S
    assert "x the goal" in render(figures)
