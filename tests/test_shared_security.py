"""test_security's tests on the shared layout (issue 30), as tests/test_shared_layouts.py does for the others:
test_security's own ``deleted`` fixture, over the shared ``wh``. Marked ``postgres``."""

from __future__ import annotations

import pytest
from postgres_cluster import INITDB, NO_SERVER
from test_security import (  # noqa: F401 -- collected here, on the shared layout, with test_security's deleted fixture
    deleted,
    test_officer_sql_reads_no_file_and_each_attempt_is_logged,
    test_the_summary_keeps_counts_of_purged_months_but_no_cost_or_duration_in_any_store,
)
from test_shared import lake, postgres_server  # noqa: F401 -- the servers' fixtures
from test_shared_layouts import wh  # noqa: F401 -- a home made with init --catalog --data

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not INITDB, reason=NO_SERVER)]
