"""The nightly run on a shared warehouse against one in its home, side by side (issue 30, docs/SCALE.md).

    python bench/shared.py [--rows 200000] [--files 20] [--out bench/out/shared]

Layouts: ``home`` (the catalog a DuckDB file, data/ in the home), ``pg+mount`` (a PostgreSQL catalog, data
files on a folder standing for a shared mount) and ``pg+s3`` (a PostgreSQL catalog, data files on the S3
API server the tests use, moto on 127.0.0.1). Each: init, a nightly ``run`` over ``rows`` CDR rows in
``files`` files plus 500 deletions per file, then the same run again (an unchanged inbox), then from a
second home on the same catalog (for home: the same home) 50 keyset pages of 100 deleted calls through
the protected store, as ``deleted-calls list`` reads them, warm. Needs Debian's PostgreSQL (initdb) and
runs as root or as a user that may run it; loopback servers: network costs are not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from glob import glob
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from run import cli, env, timed, write_cdr, write_deletions  # noqa: E402

KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_postgres(root: Path) -> tuple[str, list[str], Path, int]:
    initdb = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))[-1]
    bin_ = Path(initdb).parent
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*run_as, initdb, "-D", str(root / "data"), "-A", "trust", "-U", "bench", "--no-sync"], check=True,
                   capture_output=True)
    subprocess.run([*run_as, str(bin_ / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w",
                    "-o", f"-p {port} -h 127.0.0.1 -k {root}", "start"], check=True, capture_output=True)
    return str(bin_), run_as, root, port


def database(bin_: str, run_as: list[str], port: int) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    subprocess.run([*run_as, f"{bin_}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "bench", name], check=True)
    return f"postgresql://bench@127.0.0.1:{port}/{name}"


def start_s3() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, **KEYS}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def inbox(out: Path, rows: int, files: int) -> Path:
    folder = out / f"inbox-{rows}-{files}"
    if not folder.exists():
        folder.mkdir(parents=True)
        per = rows // files
        for k in range(files):
            write_cdr(folder / f"carrier{k:02d}.csv", per, seed=100 + k, carrier=f"C{k:02d}")
        entries = [{"id": f"UAL-{k}", "user": "bench", "timestamp": "2026-03-05T10:00:00Z", "action": "delete_calls",
                    "selector": {"callIds": list(range(k * per + 1, k * per + 501))}} for k in range(files)]
        write_deletions(folder / "deletions.jsonl", entries)
    return folder


def keyset_ms(home: Path, samples: int = 50) -> float:
    from deletedcalls.published import reading
    from deletedcalls.read.reading import ListQuery, list_deleted_calls
    from deletedcalls.settings import load_settings

    settings = load_settings(home)
    rng = random.Random(1)
    times = []
    with reading(settings, "protected") as con:
        top = con.execute("SELECT max(id) FROM deleted_calls").fetchall()[0][0] or 1
        list_deleted_calls(con, ListQuery(id_after=0, limit=100))  # warm
        for _ in range(samples):
            t = time.perf_counter()
            list_deleted_calls(con, ListQuery(id_after=rng.randrange(0, top), limit=100))
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def layout(out: Path, name: str, folder: Path, init_args: list[str], e: dict[str, str]) -> dict[str, object]:
    home, second = out / f"wh-{name}", out / f"wh-{name}-b"
    for h in (home, second):
        shutil.rmtree(h, ignore_errors=True)
    subprocess.run(cli(home, "init", *init_args), env=e, check=True)
    if init_args:
        subprocess.run(cli(second, "init", *init_args), env=e, check=True)
    job = out / "nightly.toml"
    job.write_text(f'[job]\nname = "bench"\ninbox = "{folder}"\n\n[inbox]\nmin_age_seconds = 0\n')
    run_s, rss, code = timed(cli(home, "run", str(job), "--as-of", "2026-04-01"), e)
    assert code == 0, f"{name}: the nightly run failed"
    rerun_s, _, _ = timed(cli(home, "run", str(job), "--as-of", "2026-04-01"), e)
    os.environ.update({k: v for k, v in e.items() if k.startswith("AWS_")})
    page = keyset_ms(second if init_args else home)
    return {"layout": name, "run_s": round(run_s, 2), "run_rss_mb": rss, "rerun_s": round(rerun_s, 2),
            "keyset_page_ms_second_home": round(page, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "shared")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = inbox(args.out, args.rows, args.files)
    pg_root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    bin_, run_as, _, port = start_postgres(pg_root)
    s3, endpoint = start_s3()
    try:
        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in KEYS.items() if k != "AWS_DEFAULT_REGION"},
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        e = {**env(), **KEYS, "AWS_ENDPOINT_URL": endpoint}
        mount = args.out / "mount"
        for folder_ in (mount, mount.with_name(mount.name + "-analyst")):  # a new warehouse needs both empty
            shutil.rmtree(folder_, ignore_errors=True)
        results = [
            layout(args.out, "home", folder, [], e),
            layout(args.out, "pg+mount", folder, ["--catalog", database(bin_, run_as, port), "--data", mount.as_uri()], e),
            layout(args.out, "pg+s3", folder, ["--catalog", database(bin_, run_as, port), "--data", f"s3://{bucket}/wh"], e),
        ]
    finally:
        s3.terminate()
        subprocess.run([*run_as, f"{bin_}/pg_ctl", "-D", str(pg_root / "data"), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(pg_root, ignore_errors=True)
    base = results[0]["run_s"]
    for r in results:
        r["run_vs_home"] = round(float(r["run_s"]) / float(base), 2)  # type: ignore[arg-type]
    print(json.dumps({"rows": args.rows, "files": args.files, "loadavg": os.getloadavg(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
