"""`make demo`'s DR targets: a local "off-site" folder and a real S3 API server on 127.0.0.1.

    python demo/dr.py start HOME   # start moto's S3 server, make a bucket, point HOME's [dr] at both targets
    python demo/dr.py stop HOME    # stop the server

The server is moto's standalone S3 server (a dev dependency), spoken to over
HTTP exactly as AWS; it runs under `timeout` so that a demo stopped half-way
never leaves it behind for long. Its state (pid, the off-site folder) lives
in HOME-dr/, beside the demo's home, never inside it, and so does the demo's
keyring (HOME-dr/dr.keyring, not the user's ~/.config). The demo's credentials
are dummies for this local server, passed in the environment as the AWS chain
expects (never in config.toml).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BUCKET = "demo-dr-archives"
LIFETIME_SECONDS = 900


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(home: Path) -> None:
    state = home.with_name(home.name + "-dr")
    state.mkdir(mode=0o700, exist_ok=True)
    port = _free_port()
    proc = subprocess.Popen(["timeout", str(LIFETIME_SECONDS), sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    (state / "s3.pid").write_text(str(proc.pid))
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()  # noqa: S310 (http://127.0.0.1 only)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("the demo's S3 server did not start")
            time.sleep(0.2)
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    offsite = (state / "offsite").absolute()
    config = home / "config.toml"
    text = config.read_text()
    text = text[: text.index("[dr]")] + (
        "[dr]\n"
        f'targets = ["file://{offsite}", "s3://{BUCKET}/deletedcalls"]\n'
        f'keyring = "{(state / "dr.keyring").absolute()}"\n'
        "retention_days = 2555\n"
        'lock_mode = ""\n\n'
        "[dr.s3]\n"
        f'endpoint = "{endpoint}"\n'
        'region = "us-east-1"\n')
    config.write_text(text)
    print(f"DR targets: file://{offsite} (a local folder standing in for an off-site share) and "
          f"s3://{BUCKET}/deletedcalls on the S3 API server at {endpoint}")


def stop(home: Path) -> None:
    pid_file = home.with_name(home.name + "-dr") / "s3.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        os.killpg(pid, signal.SIGTERM)  # timeout and the server: a session of their own
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit(__doc__)
    {"start": start, "stop": stop}[sys.argv[1]](Path(sys.argv[2]))
