"""The harness without I/O: selection, interleaving, medians, ratios, errors, reporting.

Synthetic cases return scripted results, so every assertion here is exact; nothing is timed.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
from pathlib import Path

import pytest

from benchmarks import Budget, Case, Metric, Registry, Result, Row, RunContext, run_suite
from benchmarks._harness import clusters, median_result, steps
from benchmarks._progress import Progress
from benchmarks._report import (
    chart_available,
    chart_cases,
    document,
    format_table,
    ordered,
    write_chart,
    write_json,
)
from ouc.errors import ConfigError, TLSError


def _ctx(tmp_path: Path) -> RunContext:
    return RunContext(
        quick=True,
        budget=Budget(seconds=0.01, max_ops=3),
        concurrency=2,
        connections=2,
        workdir=tmp_path,
    )


class Script:
    """Cases whose results come from a list, recording the order they ran in."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def case(
        self, name: str, values: list[float], baseline: str | None = None, **kw: object
    ) -> Case:
        queue = list(values)

        def run(ctx: RunContext) -> Result:
            self.calls.append(name)
            return Result(rate=queue.pop(0), cpu_us=10.0, ops=1, seconds=1.0)

        return Case(name, "g", baseline, run, **kw)  # type: ignore[arg-type]


def test_rounds_alternate_direction_and_ratio_is_median_of_paired_ratios(tmp_path: Path) -> None:
    script = Script()
    base = script.case("base", [100.0, 100.0, 200.0, 50.0], warmup=False)
    subj = script.case("subj", [90.0, 120.0, 100.0, 50.0], baseline="base", warmup=False)
    rows = run_suite([base, subj], _ctx(tmp_path), rounds=4)
    assert script.calls == ["base", "subj", "subj", "base", "base", "subj", "subj", "base"]
    by = {r.name: r for r in rows}
    # Paired per-round ratios: 0.9, 1.2, 0.5, 1.0 -> median 0.95 (the ratio of medians differs).
    assert by["subj"].ratio == pytest.approx(statistics.median([0.9, 1.2, 0.5, 1.0]))
    assert by["subj"].result.rate == pytest.approx(statistics.median([90, 120, 100, 50]))
    assert by["base"].ratio is None
    assert by["subj"].rounds == 4 and len(by["subj"].samples) == 4
    assert by["subj"].result.ops == 4
    assert by["subj"].spread == pytest.approx((120 - 50) / 2 / 95)


def test_warmup_runs_once_unrecorded_with_a_tenth_of_the_budget(tmp_path: Path) -> None:
    budgets: list[float] = []

    def run(ctx: RunContext) -> Result:
        budgets.append(ctx.budget.seconds)
        return Result(rate=1.0)

    rows = run_suite([Case("w", "g", None, run)], _ctx(tmp_path), rounds=2)
    assert budgets == pytest.approx([0.001, 0.01, 0.01])
    assert rows[0].rounds == 2


def test_errors_skips_and_max_rounds(tmp_path: Path) -> None:
    calls: list[str] = []

    def failing(ctx: RunContext) -> Result:
        calls.append("failing")
        raise TLSError("handshake broke", status=0x80E1)

    def once(ctx: RunContext) -> Result:
        calls.append("once")
        return Result(bytes_per_conn=5000.0)

    cases = [
        Case("failing", "g", None, failing, warmup=False),
        Case("skipped", "g", None, once, available=lambda: "skipped: not here"),
        Case("once", "g", None, once, Metric.BYTES_PER_CONN, max_rounds=1, warmup=False),
    ]
    rows = {r.name: r for r in run_suite(cases, _ctx(tmp_path), rounds=3)}
    assert calls == ["failing", "once"]  # a failed case is not retried, a skipped one never runs
    assert rows["failing"].error == "TLSError: handshake broke (16#80E1)"
    assert not rows["failing"].skipped
    assert rows["skipped"].skipped and rows["skipped"].error == "skipped: not here"
    assert rows["once"].rounds == 1 and rows["once"].result.bytes_per_conn == 5000.0


def test_select_adds_baselines_transitively_and_refuses_unknown_patterns() -> None:
    reg = Registry()
    noop = lambda ctx: Result()  # noqa: E731
    for name, base, quick in (("a", None, True), ("b", "a", True), ("c", "b", False)):
        reg.add(Case(name, "grp", base, noop, quick=quick))
    assert [c.name for c in reg.select(["c"])] == ["a", "b", "c"]
    assert [c.name for c in reg.select(["c*"])] == ["a", "b", "c"]
    assert [c.name for c in reg.select([], quick=True)] == ["a", "b"]
    assert [c.name for c in reg.select([], quick=True, always=["c"])] == ["a", "b", "c"]
    assert [c.name for c in reg.select([])] == ["a", "b", "c"]
    assert [c.name for c in reg.select(["grp"])] == ["a", "b", "c"]  # groups match too
    with pytest.raises(ConfigError, match="matches no benchmark"):
        reg.select(["nothing-like-this"])
    with pytest.raises(ConfigError, match="registered twice"):
        reg.add(Case("a", "grp", None, noop))
    reg.add(Case("d", "grp", "missing", noop))
    with pytest.raises(ConfigError, match="unknown baseline"):
        reg.select(["d"])


def test_clusters_follow_baseline_edges() -> None:
    noop = lambda ctx: Result()  # noqa: E731
    cases = [
        Case("x", "g", None, noop),
        Case("y", "g", None, noop),
        Case("x2", "g", "x", noop),
        Case("x3", "g", "x2", noop),
    ]
    assert [[c.name for c in cl] for cl in clusters(cases)] == [["x", "x2", "x3"], ["y"]]
    assert steps(cases, 3) == 12


def test_median_result_ignores_missing_fields() -> None:
    merged = median_result([Result(rate=1.0, p50_ms=None), Result(rate=3.0), Result(rate=2.0)])
    assert merged.rate == 2.0 and merged.p50_ms is None
    assert median_result([]) == Result()


def test_table_json_and_chart_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Script()
    cases = [
        script.case("hs-sock-base", [100.0, 100.0], warmup=False),
        script.case("hs-sock-subj", [50.0, 150.0], baseline="hs-sock-base", warmup=False),
    ]
    cases = [Case(c.name, "handshake-socket", c.baseline, c.run, warmup=False) for c in cases]
    rows = run_suite(cases, _ctx(tmp_path), rounds=2)
    table = format_table(rows)
    assert "== handshake-socket" in table
    lines = table.splitlines()
    base = next(i for i, line in enumerate(lines) if line.startswith("hs-sock-base "))
    subj = lines[base + 1]
    assert subj.startswith("└ hs-sock-subj")  # directly under its baseline
    assert "1.00x rate ±50%" in subj  # median of the ratios 0.5 and 1.5, spread ±50 %
    assert "(!) ratio noisy: ±50%" in subj
    assert "1 ratio(s) too noisy to trust" in table
    out = tmp_path / "r.json"
    write_json(str(out), document(rows, {"quick": True}))
    doc = json.loads(out.read_text())
    assert [r["name"] for r in doc["rows"]] == ["hs-sock-base", "hs-sock-subj"]
    assert doc["rows"][1]["ratio"] == pytest.approx(1.0)
    assert doc["rows"][1]["ratio_spread"] == pytest.approx(0.5)
    assert doc["rows"][1]["warning"] == "ratio noisy: ±50%"
    assert doc["machine"]["cores"] >= 1 and "pyopenssl_openssl" in doc["machine"]
    write_json(None, doc)  # --json: stdout
    assert json.loads(capsys.readouterr().out)["rows"][1]["name"] == "hs-sock-subj"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    message = chart_available()
    assert message is not None and "matplotlib is not installed" in message
    with pytest.raises(ConfigError, match="matplotlib is not installed"):
        write_chart(rows, str(tmp_path / "c.png"))
    assert not (tmp_path / "c.png").exists()
    with pytest.raises(ConfigError, match="cannot write"):
        write_json(str(tmp_path / "missing-dir" / "r.json"), doc)


def _row(name: str, baseline: str | None, rates: list[float], base_rates: list[float]) -> Row:
    samples = tuple(Result(rate=r) for r in rates)
    ratios = tuple(a / b for a, b in zip(rates, base_rates, strict=True)) if baseline else ()
    medians = statistics.median(rates) / statistics.median(base_rates)
    return Row(
        name=name, group="handshake-socket", baseline=baseline, metric=Metric.RATE,
        result=median_result(list(samples)), ratio=statistics.median(ratios) if ratios else None,
        rounds=len(rates), samples=samples, ratios=ratios,
        medians_ratio=medians if baseline else None,
    )  # fmt: skip


def test_warnings_name_why_a_ratio_is_not_to_be_trusted() -> None:
    steady = _row("a", "base", [95.0, 96.0, 97.0], [100.0, 100.0, 100.0])
    assert steady.warning is None and steady.ratio_spread == pytest.approx(0.0104, abs=1e-3)
    disagree = _row("b", "base", [80.0, 90.0, 130.0], [100.0, 100.0, 100.0])
    assert disagree.warning == "rounds disagree: 0.80x to 1.30x"
    # the median of the ratios says "a little slower", the ratio of the medians 1.5x faster
    crossed = _row("c", "base", [99.0, 198.0, 150.0], [100.0, 200.0, 100.0])
    assert crossed.ratio == pytest.approx(0.99)
    assert crossed.warning == "ratio of medians is 1.50x"
    # within 2 % of 1 on the other side is no contradiction
    level = _row("d", "base", [98.5, 100.5, 97.0], [100.0, 100.0, 100.0])
    assert level.medians_ratio == pytest.approx(0.985) and level.warning is None
    close = _row("e", "base", [99.5, 100.5, 101.0], [100.0, 101.0, 100.2])
    assert close.ratio is not None and close.ratio < 1 < (close.medians_ratio or 0)
    assert close.warning is None
    assert _row("base", None, [100.0], [100.0]).warning is None


def test_rows_stand_under_their_baselines_and_charts_split_full_from_resumed() -> None:
    base = _row("hs-sock-pyopenssl-x", None, [100.0, 100.0], [1.0, 1.0])
    other = _row("hs-sock-ssl-x", "hs-sock-pyopenssl-x", [80.0, 82.0], [100.0, 100.0])
    rbase = _row("hs-sock-pyopenssl-x-resumed", None, [300.0, 310.0], [1.0, 1.0])
    ouc = _row("hs-sock-ouc-blocking-x", "hs-sock-pyopenssl-x", [90.0, 95.0], [100.0, 100.0])
    rouc = _row("hs-sock-ouc-blocking-x-resumed", "hs-sock-pyopenssl-x-resumed",
                [290.0, 300.0], [300.0, 310.0])  # fmt: skip
    rows = [base, other, rbase, ouc, rouc]
    assert [(r.name, d) for r, d in ordered(rows)] == [
        ("hs-sock-pyopenssl-x", 0),
        ("hs-sock-ssl-x", 1),
        ("hs-sock-ouc-blocking-x", 1),
        ("hs-sock-pyopenssl-x-resumed", 0),
        ("hs-sock-ouc-blocking-x-resumed", 1),
    ]
    panels = chart_cases(rows)
    assert [title.split(":")[1].split()[0] for title, _, _ in panels] == ["full", "resumed"]
    full_cases = panels[0][1]
    assert [[r.name for r, _ in case] for case in full_cases] == [
        ["hs-sock-pyopenssl-x", "hs-sock-ssl-x", "hs-sock-ouc-blocking-x"]
    ]
    assert [[r.name for r, _ in case] for case in panels[1][1]] == [
        ["hs-sock-pyopenssl-x-resumed", "hs-sock-ouc-blocking-x-resumed"]
    ]


def test_progress_draws_only_on_a_tty() -> None:
    plain = io.StringIO()
    bar = Progress(4, stream=plain)
    bar("one")
    bar.close()
    assert plain.getvalue() == ""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = Progress(4, stream=tty, width=8)
    bar("one")
    bar("two")
    assert tty.getvalue().startswith("\r[##......] 1/4 0:00 one")
    assert "\r[####....] 2/4 0:00 two" in tty.getvalue()
    bar.close()
    assert tty.getvalue().endswith("\r")
    silent = Tty()
    Progress(4, stream=silent, enabled=False)("x")
    assert silent.getvalue() == ""


def test_op_loop_is_bounded_by_count_and_keeps_a_minimum() -> None:
    from benchmarks._loops import op_loop

    calls: list[int] = []
    timing = op_loop(lambda: calls.append(1), Budget(seconds=60.0, max_ops=7))
    assert timing.ops == 7 == len(calls) == len(timing.latencies)
    timing = op_loop(lambda: calls.append(1), Budget(seconds=0.0, max_ops=7, min_ops=2))
    assert timing.ops == 2


def test_concurrent_loop_reports_the_first_client_failure() -> None:
    from benchmarks._loops import concurrent_loop

    made: list[int] = []

    def make_op() -> object:
        made.append(1)
        if len(made) == 2:
            raise TLSError("client 2 could not start", status=0x80E1)
        return lambda: None

    with pytest.raises(TLSError, match="client 2"):
        concurrent_loop(make_op, 3, Budget(seconds=0.05, max_ops=30))  # type: ignore[arg-type]
    timing = concurrent_loop(lambda: lambda: None, 3, Budget(seconds=60.0, max_ops=30))
    assert timing.ops == 30 and len(timing.latencies) == 30


def test_latency_percentiles_of_a_loop_are_nearest_rank() -> None:
    """p50 and p99 of 100 latencies 1..100 ms are the 50th and the 99th (not the maximum), and
    p50 of 10 is the 5th: the nearest-rank definition that ``ouc load`` uses too."""
    from benchmarks._loops import Timing, to_result

    hundred = to_result(Timing(ops=100, wall=1.0, latencies=[i / 1e3 for i in range(100, 0, -1)]))
    assert (hundred.p50_ms, hundred.p99_ms) == pytest.approx((50.0, 99.0))
    ten = to_result(Timing(ops=10, wall=1.0, latencies=[i / 1e3 for i in range(1, 11)]))
    assert (ten.p50_ms, ten.p99_ms) == pytest.approx((5.0, 10.0))


def test_a_ratio_of_a_single_round_is_flagged_as_having_no_spread(tmp_path: Path) -> None:
    """One round gives one ratio: no spread to judge it by, so it is not shown as a result."""
    single = _row("a", "base", [80.0], [100.0])
    assert single.ratio == pytest.approx(0.8) and single.ratio_spread is None
    assert single.warning == "1 round: no spread"
    assert _row("b", "base", [80.0, 81.0], [100.0, 100.0]).warning is None
    script = Script()
    cases = [
        script.case("hs-sock-base", [100.0], warmup=False),
        script.case("hs-sock-subj", [50.0], baseline="hs-sock-base", warmup=False),
    ]
    cases = [Case(c.name, "handshake-socket", c.baseline, c.run, warmup=False) for c in cases]
    rows = run_suite(cases, _ctx(tmp_path), rounds=1)
    table = format_table(rows)
    subj = next(line for line in table.splitlines() if line.startswith("└ hs-sock-subj"))
    assert "0.50x" in subj and "(!) 1 round: no spread" in subj
    assert "1 ratio(s) too noisy to trust in this run (or from a single round)" in table
    assert document(rows, {"quick": True})["rows"][1]["warning"] == "1 round: no spread"
