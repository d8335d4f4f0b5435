"""Pure helpers of the pipeline benchmark (skillpath_dev/bench/pipeline_bench.py) on real processes and DuckDB files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from skillpath_dev.bench.pipeline_bench import (
    TreeRssSampler,
    compare_floor,
    compare_tables,
    dbt_node_timings,
    dbt_summary,
    descendants,
    landing_fingerprint,
    run_measured,
    tree_rss_bytes,
    write_docs,
)

MIB = 2**20
# a child holding 60 MiB that starts a grandchild holding 40 MiB; both wait for stdin to close
TREE = """
import subprocess, sys
held = b"c" * (60 << 20)
grandchild = subprocess.Popen([sys.executable, "-c",
    "import sys; held = b'g' * (40 << 20); print('ready', flush=True); sys.stdin.read()"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
grandchild.stdout.readline()
print(grandchild.pid, flush=True)
sys.stdin.read()
grandchild.stdin.close()
grandchild.wait()
"""


def test_tree_rss_counts_every_descendant():
    child = subprocess.Popen([sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(child.stdout.readline())
        assert set(descendants(child.pid)) == {child.pid, grandchild}
        sampler = TreeRssSampler(child.pid, interval=0.05)
        sampler.start()
        time.sleep(0.3)
        rss = tree_rss_bytes(child.pid)
        sampler.stop()
        assert rss >= 100 * MIB  # 60 + 40 MiB held, plus two interpreters
        assert sampler.peak >= 100 * MIB and len(sampler.samples) >= 3
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert tree_rss_bytes(child.pid) == 0  # gone


def test_run_measured_reports_peak_cpu_and_exit_code(tmp_path: Path):
    code = "import time; held = b'x' * (80 << 20); t = time.process_time(); \n" \
           "while time.process_time() - t < 0.3: pass\ntime.sleep(0.3); raise SystemExit(3)"
    m = run_measured("t", [sys.executable, "-c", code], env={}, log=tmp_path / "t.log", cwd=tmp_path)
    assert m.returncode == 3
    assert m.peak_tree_rss >= 80 * MIB
    assert m.cpu >= 0.3 and m.wall >= 0.6
    assert m.maxrss_children >= 80 * MIB
    assert m.peak_between(m.started_at, m.ended_at) == m.peak_tree_rss
    assert m.peak_between(m.ended_at + 1, m.ended_at + 2) == 0


def _timing(start: str, end: str) -> list[dict]:
    return [{"name": "compile", "started_at": start, "completed_at": start},
            {"name": "execute", "started_at": start, "completed_at": end}]


def test_dbt_node_timings_from_run_results(tmp_path: Path):
    rr = tmp_path / "run_results.json"
    rr.write_text(json.dumps({
        "elapsed_time": 12.5,
        "results": [
            {"unique_id": "model.skillpath.fct_attempts", "status": "success", "execution_time": 4.25,
             "timing": _timing("2026-01-05T10:00:00.000000Z", "2026-01-05T10:00:04.250000Z")},
            {"unique_id": "model.skillpath.dim_courses", "status": "success", "execution_time": 0.5,
             "timing": _timing("2026-01-05T10:00:01Z", "2026-01-05T10:00:01.500000Z")},
            {"unique_id": "test.skillpath.not_null_fct_attempts_attempt_sk.1a2b", "status": "pass",
             "execution_time": 0.75, "timing": _timing("2026-01-05T10:00:05Z", "2026-01-05T10:00:05.750000Z")},
            {"unique_id": "model.skillpath.mart_group_league", "status": "skipped", "execution_time": 0,
             "timing": []},
        ],
    }))
    t = dbt_node_timings(rr)
    assert t["elapsed"] == 12.5
    by_name = {n["name"]: n for n in t["nodes"]}
    assert by_name["fct_attempts"]["type"] == "model" and by_name["fct_attempts"]["seconds"] == 4.25
    assert by_name["fct_attempts"]["end"] - by_name["fct_attempts"]["start"] == pytest.approx(4.25)
    assert by_name["fct_attempts"]["start"] == 1767607200.0  # 2026-01-05T10:00:00Z
    assert by_name["not_null_fct_attempts_attempt_sk"]["type"] == "test"
    assert by_name["mart_group_league"]["start"] is None and by_name["mart_group_league"]["status"] == "skipped"
    s = dbt_summary(t)
    assert s["model"] == {"count": 3, "seconds_sum": 4.75, "span": 4.25}
    assert s["test"] == {"count": 1, "seconds_sum": 0.75, "span": 0.75}


def _db(path: Path, schema: str, rows: list[tuple], with_extra: bool = True) -> Path:
    con = duckdb.connect(str(path))
    con.execute(f"create schema if not exists {schema}")
    extra = ", loaded_at timestamp" if with_extra else ""
    con.execute(f"create table {schema}.t (k varchar, n bigint, x double{extra})")
    for r in rows:
        values = (*r, "2026-01-05 00:00:00") if with_extra else r
        con.execute(f"insert into {schema}.t values ({', '.join('?' * len(values))})", list(values))
    con.close()
    return path


def test_compare_tables_except_all_both_ways(tmp_path: Path):
    rows = [("a", 1, 0.5), ("b", 2, 1.25), ("b", 2, 1.25)]
    right = _db(tmp_path / "r.duckdb", "marts", rows)
    # the left side (the floor) has a subset of the columns: no loaded_at
    same = compare_tables(_db(tmp_path / "same.duckdb", "main", rows, with_extra=False), right, "t")
    assert (same["left_rows"], same["right_rows"], same["left_only"], same["right_only"]) == (3, 3, 0, 0)
    assert same["columns"] == ["k", "n", "x"]

    # a duplicate counts (EXCEPT ALL), a changed value counts on both sides
    other = _db(tmp_path / "o.duckdb", "main", [("a", 1, 0.5), ("b", 2, 1.25), ("c", 3, 2.0)], with_extra=False)
    c = compare_tables(other, right, "t")
    assert (c["left_only"], c["right_only"]) == (1, 1)
    fewer = _db(tmp_path / "f.duckdb", "main", [("a", 1, 0.5), ("b", 2, 1.25)], with_extra=False)
    assert (compare_tables(fewer, right, "t")["left_only"], compare_tables(fewer, right, "t")["right_only"]) == (0, 1)


def test_compare_tables_float_tolerance(tmp_path: Path):
    right = _db(tmp_path / "r.duckdb", "marts", [("a", 1, 35.4765625)])
    # the same sum added in another order: last bits differ, and 6-decimal rounding splits them
    near = _db(tmp_path / "n.duckdb", "main", [("a", 1, 35.4765625 - 1e-14)], with_extra=False)
    assert compare_tables(near, right, "t")["left_only"] == 0
    assert compare_tables(near, right, "t", digits=None)["left_only"] == 1
    far = _db(tmp_path / "f.duckdb", "main", [("a", 1, 35.4766)], with_extra=False)
    assert compare_tables(far, right, "t")["left_only"] == 1


def test_compare_tables_refuses_unknown_columns(tmp_path: Path):
    right = _db(tmp_path / "r.duckdb", "marts", [("a", 1, 0.5)])
    con = duckdb.connect(str(tmp_path / "l.duckdb"))
    con.execute("create table t (k varchar, not_in_mart integer)")
    con.close()
    with pytest.raises(ValueError, match="not_in_mart"):
        compare_tables(tmp_path / "l.duckdb", right, "t")
    with pytest.raises(ValueError, match="missing"):
        compare_tables(tmp_path / "l.duckdb", right, "no_such_table")


def test_write_docs_replaces_only_its_block(tmp_path: Path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Ingestion\n\nhand-written figures\n")
    write_docs("## Pipeline benchmark: 1,000 statements\n\nfirst", 1000, doc)
    write_docs("## Pipeline benchmark: 2,000 statements\n\nother", 2000, doc)
    write_docs("## Pipeline benchmark: 1,000 statements\n\nsecond", 1000, doc)
    text = doc.read_text()
    assert "hand-written figures" in text and "other" in text
    assert "second" in text and "first" not in text
    assert text.count("<!-- bench:pipeline:1000:start -->") == 1


def test_targets_take_the_fixed_overhead_from_the_repeated_empty_run():
    from skillpath_dev.bench.pipeline_bench import targets

    run = {"peak_tree_rss": 2e9}
    res = {"statements": 1_000_000, "empty": {**run, "wall": 30.0}, "empty_again": {**run, "wall": 7.5},
           "full": {**run, "wall": 107.5, "steps": [{"step": "raw_xapi", "seconds": 4.0}]},
           "floor": {**run, "wall": 50.0}, "incremental": {**run, "wall": 9.5},
           "compare": [{"table": "t", "left_only": 0, "right_only": 0}]}
    t = targets(res)
    assert t["overhead"]["met"] and t["overhead"]["measured"] == "7.5 s"
    assert not t["full"]["met"] and t["full"]["measured"] == "107.5 s"  # 35 s at 1 million
    assert t["ingestion"]["measured"].startswith("250,000 statements/s") and not t["ingestion"]["met"]
    # (9.5 - 7.5) / (107.5 - 7.5) = 2 %
    assert t["incremental"]["met"] and t["incremental"]["measured"].endswith("= 2.0 %")
    assert t["memory"]["met"]
    assert not t["floor"]["met"] and "2.15x; marts equal" in t["floor"]["measured"]
    res["empty_again"]["wall"] = 8.5  # 8 s is the bound
    assert not targets(res)["overhead"]["met"]
    res["compare"][0]["left_only"] = 1
    res["floor"]["wall"] = 100.0
    assert not targets(res)["floor"]["met"]  # fast enough, but the marts differ
    assert "full" not in targets({**res, "statements": 1000})  # no bound for other sizes


def test_targets_take_the_skipped_idle_run_as_overhead_and_the_forced_one_as_fixed_cost():
    from skillpath_dev.bench.pipeline_bench import targets

    run = {"peak_tree_rss": 1e9}
    res = {"statements": 1_000_000, "empty": {**run, "wall": 30.0}, "empty_again": {**run, "wall": 7.5},
           "full": {**run, "wall": 110.0}, "incremental": {**run, "wall": 20.0},
           "idle": {**run, "wall": 1.5, "skipped": True}, "idle_forced": {**run, "wall": 10.0}}
    t = targets(res)
    assert t["overhead"]["measured"] == "1.5 s (skipped: nothing new)" and t["overhead"]["met"]
    # the marginal cost is measured above the forced run: (20 - 10) / (110 - 10) = 10 %
    assert t["incremental"]["measured"].endswith("= 10.0 %") and not t["incremental"]["met"]
    # a nightly schedule's night with nothing new has a new run date: it runs, and counts
    res["idle_next_day"] = {**run, "wall": 30.0}
    assert targets(res)["overhead"]["measured"] == "1.5 s (skipped: nothing new); the next run date: 30.0 s"
    assert not targets(res)["overhead"]["met"]
    res["idle_next_day"]["wall"] = 7.0
    assert targets(res)["overhead"]["met"]
    res["idle"] = {**run, "wall": 9.0}  # not skipped, and slower than the bound
    assert targets(res)["overhead"]["measured"].startswith("9.0 s;") and not targets(res)["overhead"]["met"]


def test_floor_is_compared_only_with_a_warehouse_of_the_same_landing_zone(tmp_path: Path, monkeypatch):
    import skillpath_dev.bench.pipeline_bench as pb

    monkeypatch.setattr(pb, "FLOOR_TABLES", ("t",))
    landing = tmp_path / "landing"
    (landing / "xapi").mkdir(parents=True)
    (landing / "xapi" / "a.ndjson").write_text("{}\n")
    rows = [("a", 1, 0.5)]
    floor = {"db": str(_db(tmp_path / "floor.duckdb", "main", rows, with_extra=False)),
             "landing": landing_fingerprint(landing)}
    warehouse = _db(tmp_path / "warehouse.duckdb", "marts", rows)
    assert floor["landing"]["files"] == 1

    found = compare_floor(floor, warehouse, landing, "full")
    assert [(c["table"], c["left_only"], c["right_only"], c["after"]) for c in found] == [("t", 0, 0, "full")]
    # one more file (an increment): the warehouse no longer holds what the floor read
    (landing / "xapi" / "increment-1.ndjson").write_text("{}\n{}\n")
    assert landing_fingerprint(landing) != floor["landing"]
    assert compare_floor(floor, warehouse, landing, "full") is None
    # a file of another size under the same name also counts
    (landing / "xapi" / "increment-1.ndjson").unlink()
    (landing / "xapi" / "a.ndjson").write_text("{}\n{}\n")
    assert compare_floor(floor, warehouse, landing, "incremental") is None
