"""Google's clients judge the VPC the nearzero modules provision: google-cloud-compute (GAPIC, REST) and
googleapiclient (Service Networking) read the emulator's state after the modules ran, and the GAPIC client
creates a network itself, waiting on the emulator's Operation as it waits on Google's."""

import importlib
import json
import sys
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from google.oauth2.credentials import Credentials
from googleapiclient import discovery

ROOT = Path(__file__).resolve().parents[3]
PROJECT = "conf-net"


@pytest.fixture
def provisioned(emulator, sa_key_file, capsys):
    """The trading VPC made by the nearzero modules: network, subnetwork, firewall, NAT, range, connection."""
    if str(ROOT / ".collections") not in sys.path:
        sys.path.insert(0, str(ROOT / ".collections"))
    from ansible.module_utils.testing import patch_module_args

    emulator.add_project(PROJECT, ["us-east4-a"])
    emulator.add_access_token("conf-net-cloud", scopes=["https://www.googleapis.com/auth/cloud-platform"])
    auth = {"project": PROJECT, "api_endpoint": emulator.url, "auth_kind": "serviceaccount",
            "service_account_file": str(sa_key_file), "wait_timeout": 10}

    def run(module_name, **args):
        module = importlib.import_module(f"ansible_collections.nearzero.gcp.plugins.modules.{module_name}")
        with patch_module_args(dict(auth, **args)), pytest.raises(SystemExit):
            module.main()
        out = capsys.readouterr().out
        result = json.loads(out[out.index("{"):])
        assert not result.get("failed"), result
        return result

    run("compute_network", name="trading", mtu=8896)
    run("compute_subnetwork", region="us-east4", name="trading-us", network="trading", ip_cidr_range="10.89.7.0/24",
        private_ip_google_access=True)
    run("compute_firewall", name="trading-ssh", network="trading", source_ranges=["35.235.240.0/20"],
        target_tags=["trading-engine"], allowed=[{"protocol": "tcp", "ports": ["22"]}])
    run("compute_router", region="us-east4", name="trading-router", network="trading",
        nat={"name": "trading-nat", "min_ports_per_vm": 128})
    run("compute_global_address", name="psa-trading", network="trading", address="10.100.0.0", prefix_length=16)
    run("service_networking_connection", network="trading", reserved_peering_ranges=["psa-trading"],
        compute_endpoint=emulator.url)
    return emulator


def gapic(emulator, cls):
    """A GAPIC client on the REST transport aimed at the emulator.

    google-cloud-compute builds the operations client an insert's ExtendedOperation polls without the
    caller's client_options (transports/base.py), so it would poll compute.googleapis.com; the
    transport's cache of those clients is primed with ones aimed at the emulator too.
    """
    client = cls(credentials=Credentials("conf-net-cloud"), transport="rest",
                 client_options={"api_endpoint": emulator.url})
    services = getattr(client._transport, "_extended_operations_services", None)
    if services is not None:
        for key, ops in (("global_operations", compute_v1.GlobalOperationsClient),
                         ("region_operations", compute_v1.RegionOperationsClient),
                         ("zone_operations", compute_v1.ZoneOperationsClient)):
            services[key] = ops(credentials=Credentials("conf-net-cloud"), transport="rest",
                                client_options={"api_endpoint": emulator.url})
    return client


def test_google_cloud_compute_reads_the_provisioned_vpc(provisioned):
    emu = provisioned
    net = gapic(emu, compute_v1.NetworksClient).get(project=PROJECT, network="trading")
    assert net.mtu == 8896 and net.auto_create_subnetworks is False
    assert net.routing_config.routing_mode == "REGIONAL"
    assert [p.name for p in net.peerings] == ["servicenetworking-googleapis-com"]
    assert net.subnetworks[0].endswith("/regions/us-east4/subnetworks/trading-us")
    sub = gapic(emu, compute_v1.SubnetworksClient).get(project=PROJECT, region="us-east4", subnetwork="trading-us")
    assert (sub.ip_cidr_range, sub.private_ip_google_access, sub.gateway_address) == ("10.89.7.0/24", True,
                                                                                    "10.89.7.1")
    rules = list(gapic(emu, compute_v1.FirewallsClient).list(project=PROJECT))
    assert [(r.name, r.direction, r.priority, list(r.source_ranges), list(r.target_tags)) for r in rules] == [
        ("trading-ssh", "INGRESS", 1000, ["35.235.240.0/20"], ["trading-engine"])]
    assert rules[0].allowed[0].I_p_protocol == "tcp" and list(rules[0].allowed[0].ports) == ["22"]
    router = gapic(emu, compute_v1.RoutersClient).get(project=PROJECT, region="us-east4", router="trading-router")
    nat = router.nats[0]
    assert (nat.name, nat.nat_ip_allocate_option, nat.source_subnetwork_ip_ranges_to_nat, nat.min_ports_per_vm) == (
        "trading-nat", "AUTO_ONLY", "ALL_SUBNETWORKS_ALL_IP_RANGES", 128)
    assert nat.log_config.enable is True and nat.log_config.filter == "ERRORS_ONLY"
    address = gapic(emu, compute_v1.GlobalAddressesClient).get(project=PROJECT, address="psa-trading")
    assert (address.address, address.prefix_length, address.purpose, address.address_type) == (
        "10.100.0.0", 16, "VPC_PEERING", "INTERNAL")
    number = gapic(emu, compute_v1.ProjectsClient).get(project=PROJECT).id
    service = discovery.build("servicenetworking", "v1", credentials=Credentials("conf-net-cloud"),
                              static_discovery=True, cache_discovery=False,
                              client_options={"api_endpoint": emu.url + "/"})
    listed = service.services().connections().list(
        parent="services/servicenetworking.googleapis.com",
        network=f"projects/{number}/global/networks/trading").execute()
    assert listed["connections"][0]["reservedPeeringRanges"] == ["psa-trading"]


def test_gapic_inserts_wait_on_the_emulators_operations(emulator):
    emulator.add_project(PROJECT, ["us-east4-a"])
    emulator.add_access_token("conf-net-cloud", scopes=["https://www.googleapis.com/auth/cloud-platform"])
    emulator.compute_operation_seconds = 0.3
    networks = gapic(emulator, compute_v1.NetworksClient)
    operation = networks.insert(project=PROJECT, network_resource=compute_v1.Network(
        name="gapic-net", auto_create_subnetworks=False, mtu=1500))
    operation.result(timeout=10)
    assert operation.done() and not operation.error_code
    assert networks.get(project=PROJECT, network="gapic-net").mtu == 1500
    subnets = gapic(emulator, compute_v1.SubnetworksClient)
    subnets.insert(project=PROJECT, region="us-east4", subnetwork_resource=compute_v1.Subnetwork(
        name="s", network=f"projects/{PROJECT}/global/networks/gapic-net", ip_cidr_range="10.1.0.0/24")).result(10)
    with pytest.raises(exceptions.BadRequest) as refused:
        subnets.insert(project=PROJECT, region="us-east4", subnetwork_resource=compute_v1.Subnetwork(
            name="t", network=f"projects/{PROJECT}/global/networks/gapic-net", ip_cidr_range="10.1.0.0/16"))
    assert "conflicts with existing subnetwork 's'" in refused.value.message
    with pytest.raises(exceptions.BadRequest):
        networks.delete(project=PROJECT, network="gapic-net")
