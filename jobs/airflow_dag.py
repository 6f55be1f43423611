"""Airflow DAG that runs the deletedcalls nightly batch through its CLI.

Copy to the Airflow dags folder (Airflow 2.6 or later, for skip_on_exit_code).
Exit 3 (input rejected; everything else was done) leaves the task *skipped*,
visible in the UI and not retried: a retry would be a no-op that succeeds and
hides the rejection. Every other non-zero code fails the task and is retried;
for 5 (busy: another process held the warehouse) that is what should happen,
and for 7 (environment: disk full, read-only home) a retry finishes the work
once someone has fixed the machine.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

DELETEDCALLS = "/opt/deletedcalls/.venv/bin/deletedcalls"

with DAG(
    dag_id="deletedcalls_nightly",
    schedule="15 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10)},
    tags=["billing", "audit"],
) as dag:
    BashOperator(
        task_id="run",
        bash_command=(
            f"{DELETEDCALLS} --home /srv/deletedcalls --log-format json "
            "run /opt/deletedcalls/jobs/nightly.toml --inbox /var/spool/deletedcalls/inbox "
            "--as-of {{ data_interval_end | ds }}"
        ),
        skip_on_exit_code=3,
    )
