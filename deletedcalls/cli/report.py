"""``report``: the review report, one page of charts and tables (``report/``)."""

from __future__ import annotations

from pathlib import Path

import click

from deletedcalls import logs
from deletedcalls.cli.options import settings_of


@click.command("report")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="A new folder to write into (default: ./deletedcalls-report-AS_OF); an existing non-empty one is refused.")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="The date the report judges at (default: today, UTC).")
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True, help="Months shown, ending with the as-of month.")
@click.option("--runs", type=click.IntRange(1, 1000), default=30, show_default=True, help="Rejected records of the last this many runs.")
@click.option("--analyst", is_flag=True, help="The analysts' report: counts from published/analyst.duckdb only; needs no data_protection.")
@click.pass_context
def report_command(ctx: click.Context, out: Path | None, as_of: str | None, months: int, runs: int, analyst: bool) -> None:
    """Write the review report: report.html (self-contained) and one PNG per chart, in a new owner-only folder.

    Deletions per month by carrier and user, pending deletion requests, rejected
    records and files, retention and DR archives, nightly runs, and who read
    deleted calls. Needs data_protection, and the read is logged; with --analyst,
    the counts an analyst may see. Prints the page's path.
    """
    from deletedcalls.clock import today_utc
    from deletedcalls.report.build import ReportRequest, write_report
    from deletedcalls.settings import parse_date

    when = parse_date(as_of, "--as-of") if as_of else today_utc()
    written = write_report(settings_of(ctx), ReportRequest(when, months, runs, out, analyst))
    logs.info(f"wrote {written.page} and {len(written.charts)} chart(s)", stage="report")
    click.echo(str(written.page))
