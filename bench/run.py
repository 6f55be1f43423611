"""Benchmarks: each stage against the bare-DuckDB baseline of the same work, in the same run.

    python bench/run.py [--rows 1000000] [--stages ingest,rss,materialise] [--out bench/out]

Generates its own data under --out (git-ignored). Every figure is a ratio
measured side by side, because machines are noisy. Each measured command runs
in its own process, so that its peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deletedcalls.schemas import CDR_COLUMNS  # noqa: E402
from deletedcalls.synthetic import write_cdr, write_deletions  # noqa: E402

TYPES = {c: "VARCHAR" for c in CDR_COLUMNS}
TYPES.update(startDate="DATE", startTime="TIME", duration="BIGINT", answerTime="BIGINT")
TYPES.update({c: "DECIMAL(18,4)" for c in CDR_COLUMNS if c.startswith("cost")})

BARE_LOAD = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE calls AS SELECT * FROM read_csv($p, header=true, delim=',', quote='\\"', escape='\\"', auto_detect=false, columns=$c)",
            {"p": sys.argv[2], "c": json.loads(sys.argv[3])})
con.execute("CHECKPOINT")
"""

PANDAS_SQLITE = """
import pandas as pd, sqlite3, sys
df = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)
con = sqlite3.connect(sys.argv[1])
df.to_sql("calls", con, index=False)
con.commit()
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(seconds, peak RSS in MB, exit code) of one command in its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        sys.stderr.write(proc.stderr.read().decode() if proc.stderr else "")
    return elapsed, usage.ru_maxrss // 1024, code


def cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "deletedcalls", "--home", str(home), "--quiet", *args]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), DELETEDCALLS_USER="bench")


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return path


def bench_ingest(out: Path, rows: int, with_pandas: bool) -> dict[str, float]:
    csv = out / f"cdr-{rows}.csv"
    if not csv.exists():
        write_cdr(csv, rows, seed=7)
    home = fresh(out / "wh-ingest")
    subprocess.run(cli(home, "init"), env=env(), check=True)
    bare_db = fresh(out / "bare.duckdb")
    bare, bare_rss, _ = timed([sys.executable, "-c", BARE_LOAD, str(bare_db), str(csv), json.dumps(TYPES)])
    ours, ours_rss, code = timed(cli(home, "ingest", "cdr", str(csv)), env())
    assert code == 0, "ingest failed"
    result = {"rows": rows, "mb": round(csv.stat().st_size / 1e6), "bare_s": bare, "ours_s": ours,
              "ratio": ours / bare, "bare_rss_mb": bare_rss, "ours_rss_mb": ours_rss}
    if with_pandas:
        sqlite_db = fresh(out / "pandas.sqlite")
        naive, _, _ = timed([sys.executable, "-c", PANDAS_SQLITE, str(sqlite_db), str(csv)])
        result.update(pandas_sqlite_s=naive, faster_than_pandas=naive / ours)
    return result


def bench_materialise(out: Path, calls: int, deletions: int) -> dict[str, float]:
    csv = out / f"cdr-{calls}.csv"
    if not csv.exists():
        write_cdr(csv, calls, seed=7)
    home = fresh(out / "wh-materialise")
    subprocess.run(cli(home, "init"), env=env(), check=True)
    subprocess.run(cli(home, "ingest", "cdr", str(csv)), env=env(), check=True)
    per_entry = 1000
    step = max(calls // deletions, 1)
    ids = list(range(1, calls + 1, step))[:deletions]
    entries = [
        {"id": f"UAL-{k}", "user": "bench", "timestamp": "2026-03-05T10:00:00Z", "action": "delete_calls",
         "selector": {"carrierCallIds": [f"BT-{i - 1:012d}" for i in ids[k * per_entry:(k + 1) * per_entry]]}}
        for k in range((len(ids) + per_entry - 1) // per_entry)
    ]
    log = write_deletions(out / "deletions.jsonl", entries)
    t_ingest, _, _ = timed(cli(home, "ingest", "deletions", str(log)), env())
    t_mat, _, code = timed(cli(home, "materialise"), env())
    assert code == 0
    noop, _, _ = timed(cli(home, "--help"), env())  # process start + imports, for reference
    return {"calls": calls, "deletions": len(ids), "ingest_deletions_s": t_ingest, "materialise_s": t_mat,
            "cli_start_s": noop}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--stages", default="ingest,rss,materialise")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--pandas", action="store_true", help="also time pandas read_csv + SQLite to_sql (slow)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stages = args.stages.split(",")
    report: dict[str, object] = {}
    if "ingest" in stages:
        report["ingest"] = bench_ingest(args.out, args.rows, args.pandas)
        print(json.dumps({"ingest": report["ingest"]}), flush=True)
    if "rss" in stages:
        big = bench_ingest(args.out, args.rows * 4, False)
        small = report.get("ingest") or bench_ingest(args.out, args.rows, False)
        report["rss"] = {"rows_small": args.rows, "rows_big": args.rows * 4,
                         "ours_rss_small_mb": small["ours_rss_mb"], "ours_rss_big_mb": big["ours_rss_mb"],
                         "rss_growth": big["ours_rss_mb"] / small["ours_rss_mb"],
                         "bare_rss_growth": big["bare_rss_mb"] / small["bare_rss_mb"],
                         "time_big_ratio": big["ratio"], "ours_big_s": big["ours_s"]}
        print(json.dumps({"rss": report["rss"]}), flush=True)
    if "materialise" in stages:
        report["materialise"] = bench_materialise(args.out, args.rows * 4, 10_000)
        print(json.dumps({"materialise": report["materialise"]}), flush=True)


if __name__ == "__main__":
    main()
