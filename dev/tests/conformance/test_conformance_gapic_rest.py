"""google-cloud-compute and google-cloud-secret-manager, with their REST transport, judge the emulator.

These GAPIC clients parse every answer into protobuf messages (an unknown field or a wrong JSON type in
a response fails the parse) and map HTTP errors to google.api_core exception classes from the status,
as they do against Google.
"""

import pytest
from conformance_world import PROJECT, SECRET, ZONES
from emulator.services.secretmanager import project_number
from google.api_core import exceptions
from google.cloud import compute_v1, secretmanager_v1
from google.oauth2.credentials import Credentials


@pytest.fixture
def gapic(world):
    """``gapic(client_class, holder)``: a GAPIC client on the REST transport aimed at the emulator."""

    def _client(cls, holder="cloud"):
        return cls(
            credentials=Credentials(f"tok-{holder}"),
            transport="rest",
            client_options={"api_endpoint": world.url},
        )

    return _client


def test_compute_instances_zones_and_networks(gapic, world):
    instances = gapic(compute_v1.InstancesClient, "compute-ro")
    request = compute_v1.AggregatedListInstancesRequest(project=PROJECT, max_results=2)
    names = [i.name for _scope, scoped in instances.aggregated_list(request=request) for i in scoped.instances]
    assert len(names) == 9 == len(set(names))
    pages = [r for r in world.requests if r.kind == "compute.instances.aggregatedList"]
    assert len(pages) >= 5 and {r.status for r in pages} == {200}
    zonal = [i.name for zone in ZONES for i in instances.list(project=PROJECT, zone=zone)]
    assert sorted(zonal) == sorted(names)
    first = next(iter(instances.list(project=PROJECT, zone=ZONES[0])))
    got = instances.get(project=PROJECT, zone=ZONES[0], instance=first.name)
    assert got.id == first.id and got.network_interfaces[0].network_i_p == first.network_interfaces[0].network_i_p
    zones = gapic(compute_v1.ZonesClient, "compute-ro").list(project=PROJECT)
    assert sorted(z.name for z in zones) == sorted(ZONES)
    assert gapic(compute_v1.NetworksClient, "compute-ro").get(project=PROJECT, network="default").mtu == 1460


def test_compute_errors_map_to_googles_exception_classes(gapic, world):
    instances = gapic(compute_v1.InstancesClient, "compute-ro")
    with pytest.raises(exceptions.NotFound):
        instances.get(project=PROJECT, zone=ZONES[0], instance="no-such-vm")
    world.set_project_error(PROJECT, "permission_denied")
    with pytest.raises(exceptions.Forbidden):
        list(instances.aggregated_list(project=PROJECT))
    world.set_project_error(PROJECT, None)
    with pytest.raises(exceptions.BadRequest):
        list(instances.aggregated_list(request={"project": PROJECT, "max_results": 501}))
    unscoped = gapic(compute_v1.InstancesClient, "sql")
    with pytest.raises(exceptions.Forbidden) as denied:
        list(unscoped.aggregated_list(project=PROJECT))
    assert denied.value.reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_secret_versions_by_id_number_and_location(gapic):
    client = gapic(secretmanager_v1.SecretManagerServiceClient)
    response = client.access_secret_version(name=f"projects/{PROJECT}/secrets/db-password/versions/latest")
    assert response.payload.data == SECRET
    assert response.payload.data_crc32c  # the client checks nothing itself; the lookup does
    assert response.name.endswith("/secrets/db-password/versions/1")
    with pytest.raises(exceptions.NotFound):
        client.access_secret_version(name=f"projects/{PROJECT}/secrets/db-password/versions/7")
    by_number = f"projects/{project_number(PROJECT)}/secrets/db-password/versions/1"
    assert client.access_secret_version(name=by_number).payload.data == SECRET
    regional = f"projects/{PROJECT}/locations/europe-west3/secrets/eu-password/versions/1"
    assert client.access_secret_version(name=regional).payload.data == SECRET


def test_secret_manager_refuses_a_token_without_cloud_platform(gapic):
    client = gapic(secretmanager_v1.SecretManagerServiceClient, "compute-ro")
    with pytest.raises(exceptions.Forbidden) as denied:
        client.access_secret_version(name=f"projects/{PROJECT}/secrets/db-password/versions/latest")
    assert denied.value.reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert denied.value.message.endswith(": Request had insufficient authentication scopes.")
