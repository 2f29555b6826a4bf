"""Service Networking v1 (``servicenetworking.googleapis.com``): private services access connections.

Served under ``/v1/``: ``services.connections.create``, ``list``, ``patch`` and ``deleteConnection``
(``POST /v1/services/S/connections/C``), and ``operations.get``. Every mutation answers a
google.longrunning Operation (``operations/pssn.<id>``, ``done: true`` with the Connection or Empty as
``response``). A connection is the VPC peering ``servicenetworking-googleapis-com`` of the consumer's
network with the producer's; the network's ``peerings`` (``networks.get``) show it.

Networks are named as the API names them, ``projects/{project number}/global/networks/{name}`` (the
number of a project the emulator holds; its ID is accepted as well). Refused as Service Networking
refuses them (400 FAILED_PRECONDITION unless said): a network that does not exist (404), a
reserved range that is not a global address of the network with purpose ``VPC_PEERING`` and type
``INTERNAL``, no range at all, a second ``create`` on a network already connected (use patch), a patch
that drops a range without ``force``, a delete while Cloud SQL instances (``sqladmin``) have a private IP
on the network, and a patch or delete of a connection that does not exist (404).
Deleting a network or a range a connection holds is refused by Compute (``compute_network``).
"""

from __future__ import annotations

import copy
import threading
import uuid

from ..errors import ApiError
from ..server import Response
from ..store import project_number

PEERING = "servicenetworking-googleapis-com"
PRODUCER_NETWORK = "https://www.googleapis.com/compute/v1/projects/sn-producer-{number}/global/networks/servicenetworking"
CONNECTION_TYPE = "type.googleapis.com/google.cloud.servicenetworking.v1.Connection"
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"


def _failed(message: str, code: int = 400, status: str = "FAILED_PRECONDITION") -> ApiError:
    return ApiError(code, message, "failedPrecondition" if code == 400 else "notFound", status=status)


class ServiceNetworking:
    """Connections by (service, consumer network path ``projects/ID/global/networks/N``) and operations."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.lock = threading.Lock()
        self.connections: dict[tuple[str, str], dict] = {}
        self.operations: dict[str, dict] = {}

    def on_network(self, network_path: str) -> list[dict]:
        """The connections on a consumer network (``projects/ID/global/networks/N``), with their peering."""
        with self.lock:
            return [copy.deepcopy(c) for (_, path), c in self.connections.items() if path == network_path]

    def network_path(self, value: str | None, field: str = "network") -> str:
        """The ``projects/ID/global/networks/N`` a request's network names (number or ID), or 400/404."""
        parts = (value or "").strip("/").split("/")
        if len(parts) != 5 or parts[0] != "projects" or parts[2:4] != ["global", "networks"]:
            raise ApiError(400, f"Invalid {field} '{value}': expected projects/{{project number}}/global/networks/"
                           "{network}.", "invalid", status="INVALID_ARGUMENT")
        project = parts[1]
        with self.emulator.compute.lock:
            names = list(self.emulator.compute.projects)
        by_number = {str(project_number(name)): name for name in names}
        project = by_number.get(project, project)
        if project not in names:
            raise _failed(f"Project '{parts[1]}' was not found or the caller cannot see it.", 404, "NOT_FOUND")
        network = self.emulator.services["compute_network"].network(project, parts[4])
        if network is None:
            raise _failed(f"Network 'projects/{parts[1]}/global/networks/{parts[4]}' was not found.", 404,
                          "NOT_FOUND")
        return f"projects/{project}/global/networks/{parts[4]}"

    def check_ranges(self, network_path: str, ranges) -> list[str]:
        """The reserved ranges, each a VPC_PEERING INTERNAL global address of the network, or 400."""
        if not ranges:
            raise _failed("At least one allocated IP range (reservedPeeringRanges) is required.")
        project = network_path.split("/")[1]
        store = self.emulator.services["compute_network"]
        for name in ranges:
            with store.lock:
                address = store.items.get(f"projects/{project}/global/addresses/{name}")
            if address is None:
                raise _failed(f"Allocated IP range '{name}' not found in network.")
            if address.get("purpose") != "VPC_PEERING" or address.get("addressType") != "INTERNAL":
                raise _failed(f"Allocated IP range '{name}' is not an INTERNAL address with purpose VPC_PEERING.")
            if address.get("_network") != network_path:
                raise _failed(f"Allocated IP range '{name}' belongs to another network "
                              f"({address.get('_network')}), not {network_path}.")
        return list(ranges)

    def sql_users(self, network_path: str) -> list[str]:
        """Cloud SQL instances (the sqladmin service's) with a private IP on the network."""
        sql = self.emulator.services.get("sqladmin")
        if sql is None:
            return []
        with sql.lock:
            found = list(sql.instances.items())
        users = []
        for (_project, name), instance in found:
            private = ((instance.get("settings") or {}).get("ipConfiguration") or {}).get("privateNetwork") or ""
            if private and "projects/" + private.split("projects/", 1)[-1] == network_path:
                users.append(name)
        return sorted(users)

    def view(self, connection: dict) -> dict:
        """A Connection as the API shows it."""
        return {k: copy.deepcopy(v) for k, v in connection.items() if not k.startswith("_")}

    def operation(self, response: dict | None, kind: str) -> dict:
        """A finished Operation answering ``response`` (a Connection, or Empty)."""
        name = f"operations/pssn.p24-{uuid.uuid4().hex[:12]}-{uuid.uuid4()}"
        body = dict(response or {}, **{"@type": CONNECTION_TYPE if response else EMPTY_TYPE})
        op = {"name": name, "metadata": {"@type": "type.googleapis.com/google.api.servicenetworking.v1."
                                         f"{kind}Metadata"}, "done": True, "response": body}
        with self.lock:
            self.operations[name] = op
        return op


def register(router, emulator):
    """Serve connections create/list/patch/deleteConnection and operations.get."""
    sn = ServiceNetworking(emulator)

    def service_of(call) -> str:
        service = call.params["service"]
        if service != "servicenetworking.googleapis.com":
            raise _failed(f"Service 'services/{service}' is not a peering service.", 404, "NOT_FOUND")
        return service

    def create(call):
        service = service_of(call)
        body = call.request.json() or {}
        path = sn.network_path(body.get("network"))
        ranges = sn.check_ranges(path, body.get("reservedPeeringRanges"))
        number = project_number(path.split("/")[1])
        with sn.lock:
            if (service, path) in sn.connections:
                raise _failed("Cannot modify allocated ranges in CreateConnection. Please use UpdateConnection.")
            connection = {
                "network": f"projects/{number}/global/networks/{path.rsplit('/', 1)[-1]}",
                "reservedPeeringRanges": ranges,
                "peering": PEERING,
                "service": f"services/{service}",
                "_peering": {
                    "name": PEERING,
                    "network": PRODUCER_NETWORK.format(number=number),
                    "state": "ACTIVE",
                    "stateDetails": "[2026-01-12T08:00:00.000-08:00]: Connected.",
                    "autoCreateRoutes": True,
                    "exportCustomRoutes": False,
                    "importCustomRoutes": False,
                    "exchangeSubnetRoutes": True,
                    "stackType": "IPV4_ONLY",
                },
            }
            sn.connections[(service, path)] = connection
        return Response(body=sn.operation(sn.view(connection), "AddTenantProject"))

    def listing(call):
        service = service_of(call)
        network = call.arg("network")
        if not network:
            raise ApiError(400, "network is required: projects/{project number}/global/networks/{network}.",
                           "invalid", status="INVALID_ARGUMENT")
        path = sn.network_path(network)
        with sn.lock:
            found = sn.connections.get((service, path))
        return Response(body={"connections": [sn.view(found)]} if found else {})

    def existing(call) -> tuple[str, dict]:
        service = service_of(call)
        body = call.request.json() or {}
        path = sn.network_path(body.get("network") or body.get("consumerNetwork"),
                               "consumerNetwork" if "consumerNetwork" in body else "network")
        with sn.lock:
            found = sn.connections.get((service, path))
        if found is None or call.params["connection"] not in ("-", PEERING):
            raise _failed(f"No private connection on {path} for services/{service}.", 404, "NOT_FOUND")
        return path, found

    def patch(call):
        path, found = existing(call)
        body = call.request.json() or {}
        mask = call.arg("updateMask", "") or ""
        if "reservedPeeringRanges" in mask.split(",") or not mask:
            ranges = sn.check_ranges(path, body.get("reservedPeeringRanges"))
            dropped = sorted(set(found["reservedPeeringRanges"]) - set(ranges))
            if dropped and (call.arg("force", "false") or "false").lower() != "true":
                raise _failed(f"Removing allocated ranges {dropped} needs force=true (instances may use them).")
            with sn.lock:
                found["reservedPeeringRanges"] = ranges
        return Response(body=sn.operation(sn.view(found), "AddTenantProject"))

    def delete(call):
        service = service_of(call)
        path, _found = existing(call)
        users = sn.sql_users(path)
        if users:
            raise _failed(f"Cannot delete the connection on {path}: the managed service instances {users} use it. "
                          "Delete them first.")
        with sn.lock:
            del sn.connections[(service, path)]
        return Response(body=sn.operation(None, "DeleteConnection"))

    def get_operation(call):
        with sn.lock:
            op = sn.operations.get(f"operations/{call.params['operation']}")
        if op is None:
            raise _failed(f"Operation operations/{call.params['operation']} was not found.", 404, "NOT_FOUND")
        return Response(body=copy.deepcopy(op))

    base = r"/v1/services/(?P<service>[^/]+)/connections"
    one = base + r"/(?P<connection>[^/:]+)"
    router.add("POST", base, create, kind="servicenetworking.services.connections.create")
    router.add("GET", base, listing, kind="servicenetworking.services.connections.list")
    router.add("PATCH", one, patch, kind="servicenetworking.services.connections.patch")
    router.add("POST", one, delete, kind="servicenetworking.services.connections.deleteConnection")
    router.add("GET", r"/v1/operations/(?P<operation>[^/]+)", get_operation,
               kind="servicenetworking.operations.get")
    return sn
