"""Compute machineTypes.get/list and acceleratorTypes.list/get over real HTTP: what each zone offers."""

import pytest
import requests

TOKEN = "types-test-bearer"
PROJECT = "types-p"


@pytest.fixture
def get(emulator):
    emulator.add_access_token(TOKEN, scopes=["https://www.googleapis.com/auth/compute.readonly"])
    emulator.add_project(PROJECT)

    def call(path, **params):
        return requests.get(
            f"{emulator.url}/compute/v1/projects/{PROJECT}/{path}",
            params=params,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=20,
        )

    return call


@pytest.mark.parametrize(
    ("zone", "name", "cpus", "memory_mb", "gpus"),
    [
        (
            "us-east4-a",
            "a3-highgpu-1g",
            26,
            239616,
            [{"guestAcceleratorType": "nvidia-h100-80gb", "guestAcceleratorCount": 1}],
        ),
        ("us-east4-a", "c3-standard-8", 8, 32768, None),
        ("us-east4-a", "c3-standard-88", 88, 360448, None),
        ("us-east4-b", "c2-standard-30", 30, 122880, None),
        ("europe-west3-a", "n2-standard-32", 32, 131072, None),
        (
            "us-east4-c",
            "g2-standard-24",
            24,
            98304,
            [{"guestAcceleratorType": "nvidia-l4", "guestAcceleratorCount": 2}],
        ),
    ],
)
def test_machine_type_get_has_the_real_shape(get, zone, name, cpus, memory_mb, gpus):
    response = get(f"zones/{zone}/machineTypes/{name}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["name"], body["zone"]) == ("compute#machineType", name, zone)
    assert (body["guestCpus"], body["memoryMb"]) == (cpus, memory_mb)
    assert body.get("accelerators") == gpus
    assert body["selfLink"].endswith(f"/projects/{PROJECT}/zones/{zone}/machineTypes/{name}")


@pytest.mark.parametrize(("zone", "name"), [("us-east4-b", "a3-highgpu-1g"), ("us-east4-a", "c9-standard-8")])
def test_a_machine_type_the_zone_lacks_is_404(get, zone, name):
    response = get(f"zones/{zone}/machineTypes/{name}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["message"] == (
        f"The resource 'projects/{PROJECT}/zones/{zone}/machineTypes/{name}' was not found"
    )


def test_machine_type_list_is_the_zone_offer(get):
    names = [m["name"] for m in get("zones/us-east4-a/machineTypes").json()["items"]]
    assert {"a3-highgpu-1g", "c3-standard-8", "c3-standard-22", "c3-standard-44", "c2-standard-60"} <= set(names)
    others = [m["name"] for m in get("zones/us-east4-b/machineTypes").json()["items"]]
    assert "c3-standard-8" in others and not any(n.startswith(("a3-", "g2-")) for n in others)


def test_accelerator_types_per_zone(get):
    body = get("zones/us-east4-a/acceleratorTypes").json()
    assert body["kind"] == "compute#acceleratorTypeList"
    h100 = next(a for a in body["items"] if a["name"] == "nvidia-h100-80gb")
    assert h100["maximumCardsPerInstance"] == 8 and h100["zone"].endswith("/zones/us-east4-a")
    eu = [a["name"] for a in get("zones/europe-west3-a/acceleratorTypes").json()["items"]]
    assert "nvidia-h100-80gb" not in eu
    assert get("zones/europe-west3-a/acceleratorTypes/nvidia-h100-80gb").status_code == 404
    assert get("zones/us-east4-a/acceleratorTypes/nvidia-l4").json()["description"] == "NVIDIA L4"
    assert "items" not in get("zones/asia-east1-a/acceleratorTypes").json()


def test_unknown_zone_is_404(get):
    assert get("zones/mars-north1-a/machineTypes").status_code == 404
