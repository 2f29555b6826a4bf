"""google-cloud-compute (REST transport) provisions a fleet on the emulator and reads it back.

The GAPIC client parses every answer into its protobuf messages (an unknown field or a wrong JSON type
fails the parse) and waits on each insert's ExtendedOperation through zoneOperations/regionOperations,
as it does against Google; so this proves the emulator's instances, resource policies, machine and
accelerator types and their operations are what Google's own library expects.
"""

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from google.oauth2.credentials import Credentials

PROJECT = "conf-fleet"
REGION = "us-east4"
ZONE = "us-east4-a"
TOKEN = "tok-fleet"


@pytest.fixture
def gapic(emulator):
    """``gapic(client_class)``: a GAPIC client on the REST transport aimed at the emulator."""
    emulator.add_project(PROJECT)
    emulator.add_access_token(TOKEN, scopes=["https://www.googleapis.com/auth/compute"])

    def _client(cls):
        return cls(credentials=Credentials(TOKEN), transport="rest", client_options={"api_endpoint": emulator.url})

    return _client


def test_google_cloud_compute_provisions_and_reads_the_fleet(gapic):
    gapic(compute_v1.NetworksClient).insert(
        project=PROJECT, network_resource=compute_v1.Network(name="vpc", auto_create_subnetworks=False, mtu=8896)
    ).result(timeout=30)
    gapic(compute_v1.SubnetworksClient).insert(
        project=PROJECT,
        region=REGION,
        subnetwork_resource=compute_v1.Subnetwork(
            name="exchange", network="global/networks/vpc", ip_cidr_range="10.10.0.0/24"
        ),
    ).result(timeout=30)
    policies = gapic(compute_v1.ResourcePoliciesClient)
    policies.insert(
        project=PROJECT,
        region=REGION,
        resource_policy_resource=compute_v1.ResourcePolicy(
            name="engines",
            group_placement_policy=compute_v1.ResourcePolicyGroupPlacementPolicy(collocation="COLLOCATED", vm_count=2),
        ),
    ).result(timeout=30)

    types = gapic(compute_v1.MachineTypesClient)
    a3 = types.get(project=PROJECT, zone=ZONE, machine_type="a3-highgpu-1g")
    assert (a3.guest_cpus, a3.memory_mb) == (26, 239616)
    assert [(g.guest_accelerator_type, g.guest_accelerator_count) for g in a3.accelerators] == [("nvidia-h100-80gb", 1)]
    assert "c3-standard-88" in [m.name for m in types.list(project=PROJECT, zone=ZONE)]
    gpus = gapic(compute_v1.AcceleratorTypesClient).list(project=PROJECT, zone=ZONE)
    assert "nvidia-h100-80gb" in [g.name for g in gpus]

    instances = gapic(compute_v1.InstancesClient)
    instance = compute_v1.Instance(
        name="engine-us-1",
        machine_type=f"zones/{ZONE}/machineTypes/a3-highgpu-1g",
        network_interfaces=[
            compute_v1.NetworkInterface(subnetwork=f"regions/{REGION}/subnetworks/exchange", nic_type="GVNIC")
        ],
        disks=[
            compute_v1.AttachedDisk(
                boot=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image="projects/debian-cloud/global/images/family/debian-12", disk_size_gb=100
                ),
            )
        ],
        scheduling=compute_v1.Scheduling(on_host_maintenance="TERMINATE"),
        network_performance_config=compute_v1.NetworkPerformanceConfig(total_egress_bandwidth_tier="TIER_1"),
        advanced_machine_features=compute_v1.AdvancedMachineFeatures(threads_per_core=1),
        labels={"role": "trading-engine", "env": "lab"},
        resource_policies=[f"regions/{REGION}/resourcePolicies/engines"],
    )
    operation = instances.insert(project=PROJECT, zone=ZONE, instance_resource=instance)
    operation.result(timeout=30)
    assert operation.done() and not operation.error_code

    got = instances.get(project=PROJECT, zone=ZONE, instance="engine-us-1")
    assert got.status == "RUNNING"
    assert got.machine_type.endswith("/machineTypes/a3-highgpu-1g")
    assert got.guest_accelerators[0].accelerator_count == 1
    assert got.network_interfaces[0].nic_type == "GVNIC"
    assert got.network_interfaces[0].network_i_p.startswith("10.10.0.")
    assert got.network_performance_config.total_egress_bandwidth_tier == "TIER_1"
    assert got.advanced_machine_features.threads_per_core == 1
    assert got.scheduling.on_host_maintenance == "TERMINATE"
    assert dict(got.labels) == {"role": "trading-engine", "env": "lab"}
    assert got.resource_policies[0].endswith("/resourcePolicies/engines")

    instances.set_labels(
        project=PROJECT,
        zone=ZONE,
        instance="engine-us-1",
        instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
            labels={"role": "trading-engine", "env": "prod"}, label_fingerprint=got.label_fingerprint
        ),
    ).result(timeout=30)
    assert instances.get(project=PROJECT, zone=ZONE, instance="engine-us-1").labels["env"] == "prod"

    # Google's exception classes from the emulator's statuses
    with pytest.raises(exceptions.Conflict):
        instances.insert(project=PROJECT, zone=ZONE, instance_resource=instance)
    with pytest.raises(exceptions.BadRequest, match="is already being used by"):
        policies.delete(project=PROJECT, region=REGION, resource_policy="engines")
    instances.delete(project=PROJECT, zone=ZONE, instance="engine-us-1").result(timeout=30)
    with pytest.raises(exceptions.NotFound):
        instances.get(project=PROJECT, zone=ZONE, instance="engine-us-1")
    policies.delete(project=PROJECT, region=REGION, resource_policy="engines").result(timeout=30)
