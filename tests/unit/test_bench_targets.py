"""The benchmark's verdict: a missed target fails `tox -e bench`, ratios are interleaved."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import _report  # noqa: E402
import _targets  # noqa: E402


def _round(**figures):
    return dict(figures)


def test_a_missed_target_gives_exit_status_1():
    results = [
        _targets.Result("a", "0.90x", True),
        _targets.Result("b", "1.30x", False),
    ]
    assert _targets.exit_status(results) == 1


def test_every_target_met_gives_exit_status_0():
    assert _targets.exit_status([_targets.Result("a", "0.90x", True)]) == 0


def test_a_target_not_measured_fails_only_a_full_run():
    results = [_targets.Result("a", "n/a", None)]
    assert _targets.exit_status(results, require_all=True) == 1
    assert _targets.exit_status(results, require_all=False) == 0


def test_ratios_are_taken_round_by_round():
    # Round 2 ran on a busy machine: both sides are slower, the ratio holds.
    samples = {
        "ours": [_round(t=1.0), _round(t=3.0), _round(t=1.1)],
        "other": [_round(t=2.0), _round(t=6.0), _round(t=2.0)],
    }
    ratios = _targets.paired_ratios(samples, "t", "other")
    assert ratios == pytest.approx([0.5, 0.5, 0.55])
    result = _targets.ratio_result("t <= 0.6x", ratios, 0.6)
    assert result.met is True
    assert result.measured == "0.50x"
    assert result.spread == "0.50-0.55"


def test_a_ratio_above_its_limit_is_missed_and_printed_with_its_value():
    result = _targets.ratio_result("gather <= 1.15x", [1.30, 1.28, 1.35], 1.15)
    assert result.met is False
    out = _targets.text([result])
    assert "[      MISSED] gather <= 1.15x: 1.30x [1.28-1.35]" in out


def test_the_report_prints_every_target_and_a_missed_one_fails():
    fast = {
        "sigterm_idle_s": 0.02,
        "sigterm_load_s": 0.02,
        "ready_s": 0.2,
        "sched_uss_mib": 40.0,
        "sched_sigterm_s": 0.3,
        "rss_mib": 30.0,
        "uss_mib": 15.0,
        "gather_us": 20.0,
        "gather_pairs": [1.30, 1.25, 1.40],  # scatter-gather misses its 1.15x
        "stop_ms": 0.3,
        "leak_gather": 0,
        "leak_looping": 0,
    }
    slow = {key: value * 2 for key, value in fast.items() if not isinstance(value, list)}
    slow["gather_us"] = 40.0
    samples = {"ours": [fast], "oslo-threading": [slow], "oslo-eventlet": [slow]}
    results = _report.targets(samples, _report.summarize(samples))
    by_text = {r.text: r for r in results}
    assert by_text["Scatter-gather overhead <= 1.15x the stdlib pool"].met is False
    assert by_text["Start to READY=1 <= 0.7x oslo.service threading's"].measured == "0.50x"
    assert all(r.met is not None for r in results)
    assert _targets.exit_status(results) == 1
    printed = _targets.text(results)
    assert printed.count("\n") == len(results)
