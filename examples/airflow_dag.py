"""Airflow DAG: run `clcm-data run` nightly (Airflow 2.x; copy into your dags/ folder and adjust the paths).

`clcm-data run` is idempotent: retries and catch-up runs redo only what is missing (stages whose outputs are
complete and unchanged are skipped, and translation is cached per text), so Airflow retries are safe. Non-zero
exit codes fail the task: 2 bad config / run directory busy, 3 input, 4 output, 5 model, 6 nothing left to write.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

CLCM_HOME = "/opt/clcm"  # the clone with its .venv
CONFIG = "examples/run-local.yaml"  # or run-dataflow.yaml / run-flink.yaml / run-spark.yaml

with DAG(
    dag_id="clcm_nightly_captions",
    schedule="30 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs also refuse to share a run directory (exit code 2)
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["clcm"],
) as dag:
    BashOperator(
        task_id="clcm_run",
        bash_command=f"cd {CLCM_HOME} && .venv/bin/clcm-data run {CONFIG}",
        # a killed or failed attempt leaves no half-written shard; the retry resumes where it stopped
        execution_timeout=timedelta(hours=6),
    )
