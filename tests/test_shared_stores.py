"""test_stores' boundary tests on the shared layout (issue 30), as tests/test_shared_layouts.py
does for the others: test_stores' own ``deleted`` fixture, over the shared ``wh``. Marked ``postgres``."""

from __future__ import annotations

import pytest
from postgres_cluster import INITDB, NO_SERVER
from test_shared import lake, postgres_server  # noqa: F401 -- the servers' fixtures
from test_shared_layouts import wh  # noqa: F401 -- a home made with init --catalog --data
from test_stores import (  # noqa: F401 -- collected here, on the shared layout, with test_stores' deleted fixture
    deleted,
    test_an_officer_reads_everything_and_each_read_is_logged,
    test_no_query_of_an_analyst_reaches_a_deleted_call,
    test_small_summary_cells_show_counts_but_no_cost_or_duration,
    test_statistics_of_protected_tables_are_not_in_the_analyst_store,
)

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not INITDB, reason=NO_SERVER)]
