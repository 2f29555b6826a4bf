"""Compute instances over real HTTP: insert, the in-place setters, stop/start, delete, and every refusal
Compute answers (checked after discovery's own validation of the request)."""

import pytest
import requests

TOKEN = "fleet-test-bearer"
PROJECT = "fleet-p"
ZONE = "us-east4-a"
REGION = "us-east4"
BASE = f"projects/{PROJECT}"


@pytest.fixture
def api(emulator):
    """``call(method, path, body=None, **params)`` against /compute/v1/ with a Compute token; a VPC ready."""
    emulator.add_access_token(TOKEN)
    emulator.add_project(PROJECT)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"

    def call(method, path, body=None, **params):
        return session.request(method, f"{emulator.url}/compute/v1/{path}", json=body, params=params, timeout=30)

    assert call("POST", f"{BASE}/global/networks", {"name": "vpc", "autoCreateSubnetworks": False}).ok
    assert call(
        "POST",
        f"{BASE}/regions/{REGION}/subnetworks",
        {"name": "exchange", "network": "global/networks/vpc", "ipCidrRange": "10.10.0.0/24"},
    ).ok
    return call


def engine(name="engine-1", machine_type="a3-highgpu-1g", **extra):
    """An Instance body as compute_instance sends it (GPU host, gVNIC, Tier_1, SMT off, no external IP)."""
    body = {
        "name": name,
        "machineType": f"zones/{ZONE}/machineTypes/{machine_type}",
        "networkInterfaces": [{"subnetwork": f"regions/{REGION}/subnetworks/exchange", "nicType": "GVNIC"}],
        "disks": [
            {
                "boot": True,
                "initializeParams": {
                    "sourceImage": "projects/debian-cloud/global/images/family/debian-12",
                    "diskSizeGb": "50",
                },
            }
        ],
        "scheduling": {"onHostMaintenance": "TERMINATE", "automaticRestart": True},
        "networkPerformanceConfig": {"totalEgressBandwidthTier": "TIER_1"},
        "advancedMachineFeatures": {"threadsPerCore": 1},
        "labels": {"role": "trading-engine", "env": "lab"},
        "tags": {"items": ["trading-engine"]},
        "metadata": {"items": [{"key": "enable-oslogin", "value": "TRUE"}]},
        "serviceAccounts": [
            {
                "email": "engine@fleet-p.iam.gserviceaccount.com",
                "scopes": ["https://www.googleapis.com/auth/logging.write"],
            }
        ],
        "shieldedInstanceConfig": {"enableSecureBoot": True, "enableVtpm": True},
    }
    body.update(extra)
    return body


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def done(response):
    """The operation a mutation answered: zonal or regional, DONE, on compute.googleapis.com."""
    assert response.status_code == 200, response.text
    op = response.json()
    assert op["kind"] == "compute#operation"
    assert op["status"] == "DONE" and "error" not in op
    assert op["selfLink"].startswith("https://compute.googleapis.com/compute/v1/projects/fleet-p/")
    return op


def get(api, name="engine-1"):
    response = api("GET", f"{BASE}/zones/{ZONE}/instances/{name}")
    assert response.status_code == 200, response.text
    return response.json()


def test_insert_creates_the_instance_as_sent_and_the_inventory_lists_it(api):
    op = done(api("POST", f"{BASE}/zones/{ZONE}/instances", engine()))
    assert op["operationType"] == "insert" and op["zone"].endswith(f"/zones/{ZONE}")
    assert op["targetLink"].endswith(f"/zones/{ZONE}/instances/engine-1")
    waited = api("POST", f"{BASE}/zones/{ZONE}/operations/{op['name']}/wait")
    assert waited.json()["status"] == "DONE"
    instance = get(api)
    assert instance["status"] == "RUNNING"
    assert instance["machineType"].endswith(f"/zones/{ZONE}/machineTypes/a3-highgpu-1g")
    # A3 comes with its GPU; the instance shows it without the request naming it
    assert [
        (a["acceleratorType"].rsplit("/", 1)[-1], a["acceleratorCount"]) for a in instance["guestAccelerators"]
    ] == [("nvidia-h100-80gb", 1)]
    nic = instance["networkInterfaces"][0]
    assert nic["nicType"] == "GVNIC" and "accessConfigs" not in nic
    assert nic["subnetwork"].endswith(f"/regions/{REGION}/subnetworks/exchange")
    assert nic["network"].endswith("/global/networks/vpc")
    assert nic["networkIP"].startswith("10.10.0.")
    assert instance["networkPerformanceConfig"] == {"totalEgressBandwidthTier": "TIER_1"}
    assert instance["advancedMachineFeatures"] == {"threadsPerCore": 1}
    assert instance["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert instance["labels"] == {"role": "trading-engine", "env": "lab"}
    assert instance["tags"]["items"] == ["trading-engine"]
    assert instance["serviceAccounts"][0]["email"] == "engine@fleet-p.iam.gserviceaccount.com"
    assert instance["disks"][0]["boot"] is True and instance["disks"][0]["diskSizeGb"] == "50"
    assert instance["shieldedInstanceConfig"]["enableSecureBoot"] is True
    listed = api("GET", f"{BASE}/aggregated/instances").json()
    assert [i["name"] for i in listed["items"][f"zones/{ZONE}"]["instances"]] == ["engine-1"]


def test_a_second_instance_gets_another_address_and_a_duplicate_name_is_409(api):
    done(api("POST", f"{BASE}/zones/{ZONE}/instances", engine()))
    done(
        api(
            "POST", f"{BASE}/zones/{ZONE}/instances", engine("engine-2", "c3-standard-8", networkPerformanceConfig=None)
        )
    )
    assert get(api)["networkInterfaces"][0]["networkIP"] != get(api, "engine-2")["networkInterfaces"][0]["networkIP"]
    error = error_of(api("POST", f"{BASE}/zones/{ZONE}/instances", engine()), 409)
    assert error["errors"][0]["reason"] == "alreadyExists"
    assert error["message"] == f"The resource 'projects/{PROJECT}/zones/{ZONE}/instances/engine-1' already exists"


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        (
            {"machineType": f"zones/{ZONE}/machineTypes/a3-superfast-1g"},
            400,
            "Machine type with name 'a3-superfast-1g' does not exist in zone 'us-east4-a'",
        ),
        ({"machineType": "zones/europe-west3-a/machineTypes/c3-standard-8"}, 400, "must be in the instance's zone"),
        (
            {
                "machineType": f"zones/{ZONE}/machineTypes/c3-standard-8",
                "guestAccelerators": [
                    {"acceleratorType": f"zones/{ZONE}/acceleratorTypes/nvidia-b300", "acceleratorCount": 1}
                ],
            },
            400,
            "Accelerator type 'nvidia-b300' does not exist in zone 'us-east4-a'",
        ),
        (
            {
                "machineType": f"zones/{ZONE}/machineTypes/n1-standard-8",
                "networkPerformanceConfig": None,
                "guestAccelerators": [
                    {"acceleratorType": f"zones/{ZONE}/acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 9}
                ],
            },
            400,
            "Between 1 and 4 nvidia-tesla-t4",
        ),
        (
            {
                "guestAccelerators": [
                    {"acceleratorType": f"zones/{ZONE}/acceleratorTypes/nvidia-l4", "acceleratorCount": 1}
                ]
            },
            400,
            "a3-highgpu-1g comes with 1 nvidia-h100-80gb",
        ),
        (
            {"scheduling": {"onHostMaintenance": "MIGRATE"}},
            400,
            "Instances with guest accelerators do not support live migration.",
        ),
        ({"scheduling": {}}, 400, "Instances with guest accelerators do not support live migration."),
        (
            {"networkInterfaces": [{"subnetwork": f"regions/{REGION}/subnetworks/exchange", "nicType": "VIRTIO_NET"}]},
            400,
            "Tier_1 networking requires gVNIC",
        ),
        (
            {"machineType": f"zones/{ZONE}/machineTypes/c3-standard-8", "scheduling": {}},
            400,
            "Tier_1 networking is not supported for machine type c3-standard-8",
        ),
        (
            {"networkInterfaces": [{"subnetwork": f"regions/{REGION}/subnetworks/nowhere"}]},
            404,
            f"The resource 'projects/{PROJECT}/regions/{REGION}/subnetworks/nowhere' was not found",
        ),
        ({"networkInterfaces": []}, 400, "At least one network interface is required."),
        ({"advancedMachineFeatures": {"threadsPerCore": 4}}, 400, "threadsPerCore"),
        (
            {"resourcePolicies": [f"regions/{REGION}/resourcePolicies/missing"]},
            404,
            f"The resource 'projects/{PROJECT}/regions/{REGION}/resourcePolicies/missing' was not found",
        ),
        ({"name": "Engine_1"}, 400, "Invalid value for field 'resource.name': 'Engine_1'"),
        ({"labels": {"Role": "x"}}, 400, "Label keys start with a lowercase letter"),
    ],
)
def test_insert_refuses_what_compute_refuses(api, change, status, needle):
    body = {k: v for k, v in engine(**change).items() if v is not None}
    error = error_of(api("POST", f"{BASE}/zones/{ZONE}/instances", body), status)
    assert needle in error["message"]
    assert api("GET", f"{BASE}/zones/{ZONE}/instances").json().get("items") is None


def test_discovery_refuses_a_field_compute_does_not_have(api):
    error = error_of(api("POST", f"{BASE}/zones/{ZONE}/instances", engine(gpuCount=1)), 400)
    assert "gpuCount" in error["message"]


def test_labels_metadata_and_tags_change_only_with_the_current_fingerprint(api):
    done(api("POST", f"{BASE}/zones/{ZONE}/instances", engine()))
    path = f"{BASE}/zones/{ZONE}/instances/engine-1"
    before = get(api)
    stale = {"labels": {"role": "x"}, "labelFingerprint": "AAAAAAAAAAA="}
    error = error_of(api("POST", f"{path}/setLabels", stale), 412)
    assert error["errors"][0]["reason"] == "conditionNotMet"
    assert error["message"] == "Labels fingerprint either invalid or resource labels have changed"
    done(api("POST", f"{path}/setLabels", {"labels": {"role": "risk"}, "labelFingerprint": before["labelFingerprint"]}))
    after = get(api)
    assert after["labels"] == {"role": "risk"} and after["labelFingerprint"] != before["labelFingerprint"]
    # the old fingerprint is stale now
    again = api("POST", f"{path}/setLabels", {"labels": {}, "labelFingerprint": before["labelFingerprint"]})
    assert error_of(again, 412)["errors"][0]["reason"] == "conditionNotMet"

    error = error_of(api("POST", f"{path}/setMetadata", {"items": [], "fingerprint": "AAAAAAAAAAA="}), 412)
    assert error["message"] == "Supplied fingerprint does not match current metadata fingerprint."
    items = [{"key": "enable-oslogin", "value": "FALSE"}]
    done(api("POST", f"{path}/setMetadata", {"items": items, "fingerprint": after["metadata"]["fingerprint"]}))
    assert get(api)["metadata"]["items"] == items

    error_of(api("POST", f"{path}/setTags", {"items": ["x"], "fingerprint": "AAAAAAAAAAA="}), 412)
    done(api("POST", f"{path}/setTags", {"items": ["risk"], "fingerprint": after["tags"]["fingerprint"]}))
    assert get(api)["tags"]["items"] == ["risk"]


def test_machine_type_and_scheduling_change_only_on_a_stopped_instance(api):
    done(api("POST", f"{BASE}/zones/{ZONE}/instances", engine()))
    path = f"{BASE}/zones/{ZONE}/instances/engine-1"
    bigger = {"machineType": f"zones/{ZONE}/machineTypes/a3-highgpu-2g"}
    error = error_of(api("POST", f"{path}/setMachineType", bigger), 400)
    assert error["errors"][0]["reason"] == "invalidResourceUsage"
    assert "the instance is RUNNING; stop it first" in error["message"]
    error_of(api("POST", f"{path}/setScheduling", {"onHostMaintenance": "TERMINATE"}), 400)
    assert done(api("POST", f"{path}/stop"))["operationType"] == "stop"
    assert get(api)["status"] == "TERMINATED"
    # GPUs never migrate, stopped or not
    error = error_of(api("POST", f"{path}/setScheduling", {"onHostMaintenance": "MIGRATE"}), 400)
    assert error["message"] == "Instances with guest accelerators do not support live migration."
    missing = {"machineType": f"zones/{ZONE}/machineTypes/a3-highgpu-3g"}
    assert "does not exist in zone" in error_of(api("POST", f"{path}/setMachineType", missing), 400)["message"]
    done(api("POST", f"{path}/setMachineType", bigger))
    done(api("POST", f"{path}/setScheduling", {"onHostMaintenance": "TERMINATE", "automaticRestart": False}))
    done(api("POST", f"{path}/start"))
    instance = get(api)
    assert instance["status"] == "RUNNING"
    assert instance["machineType"].endswith("/a3-highgpu-2g")
    assert instance["guestAccelerators"][0]["acceleratorCount"] == 2
    assert instance["scheduling"]["automaticRestart"] is False


def test_a_protected_instance_is_not_deleted_until_protection_is_off(api):
    done(api("POST", f"{BASE}/zones/{ZONE}/instances", engine(deletionProtection=True)))
    path = f"{BASE}/zones/{ZONE}/instances/engine-1"
    error = error_of(api("DELETE", path), 400)
    assert error["errors"][0]["reason"] == "invalidResourceUsage"
    assert (
        error["message"] == "Invalid resource usage: 'Resource cannot be deleted if it's protected against deletion'."
    )
    done(api("POST", f"{path}/setDeletionProtection", deletionProtection="false"))
    assert get(api)["deletionProtection"] is False
    assert done(api("DELETE", path))["operationType"] == "delete"
    assert error_of(api("GET", path), 404)["errors"][0]["reason"] == "notFound"
    assert error_of(api("DELETE", path), 404)["errors"][0]["reason"] == "notFound"


def test_an_instance_on_a_missing_network_or_in_an_unknown_zone_is_404(api):
    body = engine(networkInterfaces=[{"network": "global/networks/elsewhere", "nicType": "GVNIC"}])
    assert (
        "networks/elsewhere' was not found"
        in error_of(api("POST", f"{BASE}/zones/{ZONE}/instances", body), 404)["message"]
    )
    error_of(api("POST", f"{BASE}/zones/mars-north1-a/instances", engine()), 404)


def test_a_compute_readonly_token_cannot_insert(api, emulator):
    emulator.add_access_token("fleet-read-only-bearer", scopes=["https://www.googleapis.com/auth/compute.readonly"])
    response = requests.post(
        f"{emulator.url}/compute/v1/{BASE}/zones/{ZONE}/instances",
        json=engine(),
        headers={"Authorization": "Bearer fleet-read-only-bearer"},
        timeout=20,
    )
    assert response.status_code == 403, response.text


def test_external_ip_in_place_and_gpus_or_service_account_only_when_stopped(api):
    body = engine(
        "t4-host",
        "n1-standard-8",
        networkPerformanceConfig=None,
        guestAccelerators=[
            {"acceleratorType": f"zones/{ZONE}/acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 1}
        ],
    )
    done(api("POST", f"{BASE}/zones/{ZONE}/instances", body))
    path = f"{BASE}/zones/{ZONE}/instances/t4-host"
    done(
        api(
            "POST",
            f"{path}/addAccessConfig",
            {"type": "ONE_TO_ONE_NAT", "name": "External NAT"},
            networkInterface="nic0",
        )
    )
    assert get(api, "t4-host")["networkInterfaces"][0]["accessConfigs"][0]["natIP"]
    error_of(api("POST", f"{path}/addAccessConfig", {"type": "ONE_TO_ONE_NAT"}, networkInterface="nic0"), 400)
    done(api("POST", f"{path}/deleteAccessConfig", accessConfig="External NAT", networkInterface="nic0"))
    assert "accessConfigs" not in get(api, "t4-host")["networkInterfaces"][0]

    two = {
        "guestAccelerators": [
            {"acceleratorType": f"zones/{ZONE}/acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 2}
        ]
    }
    account = {"email": "other@fleet-p.iam.gserviceaccount.com", "scopes": []}
    assert "stop it first" in error_of(api("POST", f"{path}/setMachineResources", two), 400)["message"]
    assert "stop it first" in error_of(api("POST", f"{path}/setServiceAccount", account), 400)["message"]
    done(api("POST", f"{path}/stop"))
    done(api("POST", f"{path}/setMachineResources", two))
    done(api("POST", f"{path}/setServiceAccount", account))
    instance = get(api, "t4-host")
    assert instance["guestAccelerators"][0]["acceleratorCount"] == 2
    assert instance["serviceAccounts"] == [account]
