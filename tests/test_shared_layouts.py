"""The local layout's correctness tests, run again on the shared layout (issue 30): PostgreSQL catalog, S3 data.

The tests below are the very functions of the local layout's modules (materialise, erasure, the analysts'
boundary), imported here: this module's ``wh`` fixture overrides conftest's, so they and the fixtures built on
``wh`` (``deleted``, ``reviewed``) get a home made with ``init --catalog postgresql://… --data s3://…`` on the
throwaway servers of tests/test_shared.py. Only tests that check through the CLI and the lake are imported;
those that scan or change the home's own files (data/, deletedcalls.duckdb) test what the shared layout does not
have, and its equivalents are in tests/test_shared.py (byte scans of the bucket, the analysts' prefix and the
catalog database's files). Marked ``postgres``, as the module they reuse their servers from. The tests of
test_stores and test_security, whose modules have a ``deleted`` fixture of their own, are run the same way by
tests/test_shared_stores.py and tests/test_shared_security.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import Warehouse
from hypothesis import HealthCheck, given, settings
from postgres_cluster import INITDB, NO_SERVER, PostgresServer
from test_deletions import (  # noqa: F401 -- collected here, on the shared layout
    test_a_whole_file_selector_and_a_deletion_before_its_cdr_file,
    test_deleting_a_deleted_call_changes_nothing,
    test_each_selector_kind_moves_its_calls_with_every_field,
    test_two_entries_naming_one_call_the_earlier_wins,
)
from test_invariants import check_order, steps
from test_retention import (  # noqa: F401
    test_a_deletion_request_naming_a_purged_call_is_resolved_not_left_pending,
    test_a_dry_run_changes_nothing,
    test_a_partition_expires_the_day_after_its_last_day_plus_retention,
    test_rows_arriving_later_in_an_archived_month_become_a_further_part,
)
from test_shared import lake, postgres_server  # noqa: F401 -- the servers' fixtures

from deletedcalls.settings import load_settings

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not INITDB, reason=NO_SERVER)]


@pytest.fixture
def wh(tmp_path: Path, lake: dict[str, str]) -> Warehouse:  # noqa: F811 -- overrides conftest's: the shared layout
    w = Warehouse(tmp_path / "warehouse")
    w.cli("init", "--catalog", lake["catalog"], "--data", lake["data"], ok=True)
    return w


def test_the_imported_tests_run_on_the_shared_layout(wh, lake):  # noqa: F811 -- the fixture
    """Control: the ``wh`` the imported tests get is a shared warehouse, not a home of its own."""
    assert f'catalog = "{lake["catalog"]}"' in (wh.home / "config.toml").read_text()
    assert not (wh.home / "deletedcalls.duckdb").exists() and not (wh.home / "data").exists()


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_a_call_is_in_exactly_one_table_whatever_the_order_on_the_shared_layout(postgres_server: PostgresServer, plan):  # noqa: F811
    """test_invariants' property on a PostgreSQL catalog and a mount (fewer examples: each makes a database)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        Warehouse(root / "wh").cli("init", "--catalog", postgres_server.database(), "--data", (root / "mount").as_uri(),
                                   ok=True)
        check_order(root, load_settings(root / "wh"), plan)
