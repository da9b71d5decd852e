"""The benchmark's targets: each one measured, compared, printed, and the run's exit status.

Pure functions of the samples, so that tests/unit/test_bench_targets.py can prove
that a missed target makes ``tox -e bench`` fail.

A ratio is *interleaved*: the variants alternate within each round (A B C, A B C,
...), so each round gives one ratio of neighbours that saw the same machine, and the
target is judged on the median of those per-round ratios; the spread (min-max) is
printed beside it. A busy machine slows both sides of a pair alike.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import statistics

MET, MISSED, NOT_MEASURED = "met", "MISSED", "not measured"


@dataclasses.dataclass(frozen=True)
class Result:
    """One target as measured: ``met`` is True, False, or None (not measured)."""

    text: str
    measured: str
    met: bool | None
    spread: str = ""

    @property
    def status(self) -> str:
        return {True: MET, False: MISSED, None: NOT_MEASURED}[self.met]


def paired_ratios(
    samples: dict[str, list[dict]], key: str, against: str, key_against: str | None = None
) -> list[float]:
    """ours / against, round by round (only rounds where both sides measured it)."""
    ours = samples.get("ours", [])
    other = samples.get(against, [])
    ratios = []
    for mine, theirs in zip(ours, other, strict=False):
        a, b = mine.get(key), theirs.get(key_against or key)
        if a is not None and b is not None and a >= 0 and b > 0:
            ratios.append(a / b)
    return ratios


def ratio_result(text: str, ratios: Sequence[float], limit: float, strict: bool = False) -> Result:
    """A "ratio <= limit" (or "< limit") target judged on the median of ``ratios``."""
    if not ratios:
        return Result(text, "n/a", None)
    value = statistics.median(ratios)
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1 else ""
    met = value < limit if strict else value <= limit
    return Result(text, f"{value:.2f}x", met, spread)


def value_result(text: str, value: float | None, met: Callable[[float], bool], fmt: str) -> Result:
    if value is None:
        return Result(text, "n/a", None)
    return Result(text, fmt.format(value), bool(met(value)))


def exit_status(results: Sequence[Result], require_all: bool = True) -> int:
    """1 when a target was missed, or (``require_all``) not measured; else 0."""
    for result in results:
        if result.met is False or (require_all and result.met is None):
            return 1
    return 0


def text(results: Sequence[Result]) -> str:
    """Every target with its measured value and, for ratios, the per-round spread."""
    lines = ["Targets (ratios: median of per-round ratios, spread in brackets):"]
    for r in results:
        spread = f" [{r.spread}]" if r.spread else ""
        lines.append(f"  [{r.status:>12}] {r.text}: {r.measured}{spread}")
    return "\n".join(lines)
