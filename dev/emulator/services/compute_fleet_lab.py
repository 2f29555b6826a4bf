"""Lab mode for the fleet: instances inserted through the API become lab containers.

The emulator serves a lab (``--lab .lab/<lab>``) that ``dev/lab/labctl.py up`` started; ``lab.json``
there names the lab's project and its podman networks with their subnets. What lab mode creates for
real, and what it only records:

- an instance inserted in the lab's project whose first NIC's subnetwork range is a lab network's subnet
  (``dev/lab/topology.yml``: ``internal``, 10.89.7.0/24, stands for the VPC subnetwork in the zone near
  the exchange) starts a lab container of its own on that network (``labctl.py host add``): its
  ``networkIP`` is the container's address, it answers SSH as ``ops`` with the lab's key, and the lab's
  static inventory, ``known_hosts`` and ``ssh_config`` list it. ``delete`` removes the container,
  ``stop``/``start`` stop and start it;
- an instance of the lab's project on any other range is refused (400, naming the lab's range), so the
  inventory never lists an address nothing answers on;
- a Cloud SQL instance inserted in the lab's project starts the lab PostgreSQL host for it (the same
  way, on the lab's first network), served to the inventory as a Compute instance with labels
  ``role: database``, ``cloudsql: primary|replica``: the host ``dev/playbooks/lab_database.yml`` turns
  into the Cloud SQL stand-in;
- networks, subnetworks, firewalls, routers, addresses, resource policies and other projects' instances
  exist in the API only.

Every change is written back to ``instances.json`` (each instance whole), so an emulator restarted
on the same lab serves the same instances.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from .. import dataset
from ..errors import ApiError
from ..store import API_BASE, zone_name

LABCTL = Path(__file__).resolve().parents[2] / "lab" / "labctl.py"
LAB_TIMEOUT = 180


class LabFleet:
    """The emulator's hands on the lab: starts, stops and removes lab containers for instances."""

    def __init__(self, emulator):
        self.emulator = emulator
        self._save_lock = threading.Lock()  # one writer of instances.json at a time

    # -- what the lab is
    def lab_dir(self) -> Path | None:
        """The served lab's directory, when the emulator runs in lab mode."""
        lab_file = getattr(self.emulator, "_lab_file", None)
        return Path(lab_file).parent if lab_file else None

    def lab(self) -> dict | None:
        """``lab.json`` of the served lab (None outside lab mode, or for a lab without one)."""
        lab_dir = self.lab_dir()
        if lab_dir is None or not (lab_dir / "lab.json").exists():
            return None
        return json.loads((lab_dir / "lab.json").read_text())

    # -- networks (the VPC resources the compute_network service holds)
    def _netstore(self):
        return self.emulator.services.get("compute_network")

    def knows_subnetworks(self) -> bool:
        """Whether subnetworks are served (and so must exist when an instance names one)."""
        return self._netstore() is not None

    def subnetwork(self, project: str, region: str, name: str) -> dict | None:
        """The subnetwork's ``ipCidrRange`` and ``network`` name, or None."""
        netstore = self._netstore()
        if netstore is None:
            return None
        with netstore.lock:
            item = netstore.items.get(f"projects/{project}/regions/{region}/subnetworks/{name}")
            if item is None:
                return None
            return {"ipCidrRange": item["ipCidrRange"], "network": item["_network"].rsplit("/", 1)[-1]}

    def network_exists(self, project: str, name: str) -> bool:
        """Whether the VPC network exists (created through the API, or one the lab or a test set)."""
        netstore = self._netstore()
        if netstore is not None:
            return netstore.network(project, name) is not None
        with self.emulator.compute.lock:
            found = self.emulator.compute.projects.get(project)
            return bool(found and name in found.networks)

    # -- containers
    def _labctl(self, *args: str) -> dict:
        command = [sys.executable, str(LABCTL), "host", *args, "--lab-dir", str(self.lab_dir())]
        try:
            res = subprocess.run(command, capture_output=True, text=True, timeout=LAB_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ApiError(503, f"The lab did not answer `labctl.py host {args[0]}` within {LAB_TIMEOUT} s.",
                           "backendError", status="UNAVAILABLE") from None  # fmt: skip
        if res.returncode != 0:
            raise ApiError(503, f"The lab could not {args[0]} the host: {res.stderr.strip()[-600:]}",
                           "backendError", status="UNAVAILABLE")  # fmt: skip
        return json.loads(res.stdout or "{}")

    def network_for(self, instance: dict, cidr: str) -> str | None:
        """The lab network a new instance of the lab's project runs on (None outside lab mode).

        Refused (400, naming the lab's ranges) when its subnetwork's range is no lab network's.
        """
        lab = self.lab()
        project = instance["selfLink"].split("/projects/", 1)[1].split("/", 1)[0]
        if lab is None or project != lab["project"]:
            return None
        network = next((n for n, spec in lab["networks"].items() if spec["subnet"] == cidr), None)
        if network is None:
            ranges = ", ".join(f"{spec['subnet']} ({n})" for n, spec in lab["networks"].items())
            raise ApiError(
                400,
                f"Invalid value for field 'resource.networkInterfaces[0].subnetwork': "
                f"'{instance['networkInterfaces'][0]['subnetwork']}'. In lab mode an instance of project "
                f"{project} runs as a lab container, on a lab network only: the subnetwork's range {cidr} is "
                f"none of the lab's ({ranges}). Fix: give the subnetwork the lab network's range.",
                "invalid",
            )
        return network

    def start_host(self, instance: dict, network: str) -> None:
        """Start the lab container of a new instance, at the instance's ``networkIP``."""
        nic = instance["networkInterfaces"][0]
        gpus = [{"type": a["acceleratorType"].rsplit("/", 1)[-1], "count": a["acceleratorCount"]}
                for a in instance.get("guestAccelerators") or ()]  # fmt: skip
        spec = {
            "name": instance["name"],
            "zone": zone_name(instance["zone"]),
            "machine_type": instance["machineType"].rsplit("/", 1)[-1],
            "labels": instance.get("labels") or {},
            "tags": (instance.get("tags") or {}).get("items") or [],
            "gpus": gpus,
            "nic_type": nic.get("nicType") or "VIRTIO_NET",
            "networks": [network],
            "ip": nic["networkIP"],
        }
        self._labctl("add", "--spec", json.dumps(spec))

    def container(self, instance: dict) -> str | None:
        """The lab container of an instance of the lab's project (labctl's ``hosts.json``), or None."""
        lab = self.lab()
        project = instance["selfLink"].split("/projects/", 1)[1].split("/", 1)[0]
        if lab is None or project != lab["project"]:
            return None
        hosts_file = self.lab_dir() / "hosts.json"
        hosts = json.loads(hosts_file.read_text()) if hosts_file.exists() else []
        return next((h["ctr"] for h in hosts if h["host"]["name"] == instance["name"]), None)

    def remove(self, instance: dict) -> None:
        """Remove the instance's lab container, if it has one."""
        if self.container(instance):
            self._labctl("remove", "--name", instance["name"])

    def power(self, instance: dict, on: bool) -> None:
        """Start or stop the instance's lab container, if it has one."""
        if self.container(instance):
            self._labctl("start" if on else "stop", "--name", instance["name"])

    def add_database_host(
        self, project: str, name: str, region: str, role: str, tier: str, labels: dict, network: str = "default"
    ) -> str | None:
        """Start the lab PostgreSQL host of a Cloud SQL instance; its address (None outside lab mode).

        The host's NIC is on ``network``, the instance's private network (its MTU is the host's).
        """
        lab = self.lab()
        if lab is None or project != lab["project"]:
            return None
        zone = f"{region}-a"
        spec = {"name": name, "zone": zone, "machine_type": tier, "tags": ["database"], "gpus": [],
                "labels": {**labels, "role": "database", "cloudsql": role}, "nic_type": "GVNIC",
                "networks": [next(iter(lab["networks"]))]}  # fmt: skip
        started = self._labctl("add", "--spec", json.dumps(spec))
        instance = dataset.build_instance(project, zone, name, ip=started["ip"], machine_type=tier,
                                          labels=spec["labels"], tags=spec["tags"])  # fmt: skip
        nic = instance["networkInterfaces"][0]
        nic["network"] = f"{API_BASE}/projects/{project}/global/networks/{network}"
        nic.pop("subnetwork")
        self.emulator.compute.add_project(project, [zone])
        self.emulator.compute.put_instance(project, instance)
        self.save()
        return started["ip"]

    # -- persistence
    def save(self) -> None:
        """Write the lab project's instances, whole, to ``instances.json`` (lab mode only)."""
        lab = self.lab()
        if lab is None:
            return
        with self._save_lock:
            self._write(lab)

    def _write(self, lab: dict) -> None:
        # Never called under the Compute lock: the emulator takes its own lock, then the Compute one, to reload.
        lab_dir = self.lab_dir()
        emulator = self.emulator
        with emulator.compute.lock:
            found = emulator.compute.projects.get(lab["project"])
            records = [r.data for rs in (found.zones.values() if found else ()) for r in rs]
        entries = []
        for data in records:
            nic = (data.get("networkInterfaces") or [{}])[0]
            entries.append({"name": data["name"], "project": lab["project"], "zone": zone_name(data["zone"]),
                            "ip": nic.get("networkIP") or "", "instance": data})  # fmt: skip
        target = lab_dir / "instances.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=2) + "\n")
        with emulator._lock:
            os.replace(tmp, target)
            stat = target.stat()
            # the emulator wrote it: no reload (which would forget what only the API holds)
            emulator._lab_mtime = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
