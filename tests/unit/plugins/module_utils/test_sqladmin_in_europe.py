"""One rule for "this backup location is in Europe", shared by architecture_check and cloudsql_backup_restore."""

import pytest
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import in_europe


@pytest.mark.parametrize("location", ["eu", "europe-west3", "europe-southwest1", "europe-central2"])
def test_the_eu_multi_region_and_european_regions_are_in_europe(location):
    assert in_europe(location)


@pytest.mark.parametrize("location", [None, "", "us", "us-east4", "asia", "eunos", "europe-", "europe-west",
                                      "europe-west3a", "xeurope-west3", "EU"])
def test_anything_else_is_not(location):
    assert not in_europe(location)
