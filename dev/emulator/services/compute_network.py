"""Compute Engine VPC resources: networks, subnetworks, firewalls, routers (Cloud NAT), global addresses.

Served under ``/compute/v1/projects/{project}/``: ``networks`` get/list/insert/patch/delete,
``subnetworks`` get/list/insert/patch/expandIpCidrRange/delete,
``firewalls`` get/list/insert/patch/update/delete,
``routers`` get/list/insert/patch/update/delete, ``globalAddresses`` get/list/insert/delete, and
``projects.get`` (a project's number, which Service Networking's network names carry). Every request
is checked against compute.v1's discovery document first (``discovery.py``); mutations apply at once
and answer a ``compute#operation`` (``compute_ops.new_operation``); a repeated ``requestId`` gets the
first request's operation and changes nothing (``compute_ops.by_request_id``).

Networks come from two places: those created through the API (held here, in ``NetStore``), and the
lab's or a test's networks in ``ComputeStore`` (``project.networks``: every network an instance's NIC
names, plus ``Emulator.set_network``), which are read here but never changed. ``networks.get`` and
``list`` show both (an API network of the same name wins); a patch of a store network copies it into
``NetStore`` first; deleting one is refused while instances use it, as for any network.

Compute's own rules, beyond the request's shape (each refusal is Google's error, with its wording):

- names match ``[a-z]([-a-z0-9]{0,61}[a-z0-9])?``; a second resource of the same name is 409
  ``alreadyExists``;
- networks: ``autoCreateSubnetworks`` must be sent (legacy networks cannot be created), MTU 1300..8896,
  only ``routingConfig`` and ``mtu`` change by patch;
- subnetworks: the network must exist; the range a valid /8../29 CIDR that overlaps no other subnetwork
  of the network (any region), no private services access range on it, and in an auto-mode network not
  10.128.0.0/9; a patch needs the current ``fingerprint`` (412 otherwise) and cannot change the range,
  network or region; ``expandIpCidrRange`` only widens the range (the new one contains the old);
- firewalls: exactly one of ``allowed``/``denied``; ports only for tcp/udp/sctp; egress rules take no
  source tags or service accounts; ``network`` (default ``global/networks/default``) and ``direction``
  never change;
- routers: NATs with unique names, ``natIpAllocateOption`` and ``sourceSubnetworkIpRangesToNat``;
  ``LIST_OF_SUBNETWORKS`` names subnetworks of the router's network and region; only one NAT of a
  network and region may cover all its subnetworks; ``network`` never changes;
- global addresses: an INTERNAL one must be ``VPC_PEERING`` (private services access) or
  ``PRIVATE_SERVICE_CONNECT``; a ``VPC_PEERING`` range needs ``network`` and ``prefixLength`` and
  overlaps no subnetwork or other range of the network (without ``address`` a free block is picked);
- a resource in use is not deleted (400 ``resourceInUseByAnotherResource``): a network with
  subnetworks, firewalls, routers, ranges, instances or a Service Networking connection; a
  subnetwork with instances or named by a NAT; a range a connection holds.

Tests reach the data through ``emulator.services["compute_network"]`` (a ``NetStore``).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import ipaddress
import re
import secrets
import threading

from ..errors import ApiError, invalid_value, not_found
from ..filters import compile_filter
from ..server import Response
from ..store import API_BASE, DEFAULT_MTU, region_of
from .compute import COMPUTE_SCOPES, PREFIX, _check_alt, _Pager, _project
from .compute_ops import by_request_id, new_operation

NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
AUTO_MODE_RANGE = ipaddress.ip_network("10.128.0.0/9")
PORT_PROTOCOLS = ("tcp", "udp", "sctp", "6", "17", "132")
PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all")
NAT_RANGES = (
    "ALL_SUBNETWORKS_ALL_IP_RANGES",
    "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES",
    "LIST_OF_SUBNETWORKS",
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-8))).isoformat(timespec="milliseconds")


def _fingerprint() -> str:
    return base64.b64encode(secrets.token_bytes(8)).decode()


def _id(path: str) -> str:
    return str(int(hashlib.sha256(path.encode()).hexdigest()[:15], 16))


def _path(link: str | None, project: str, collection: str, scope: str = "global") -> str | None:
    """``projects/P/<scope>/<collection>/N`` for a URL, a partial path or a bare name (None if empty)."""
    if not link:
        return None
    text = link.split("/compute/v1/", 1)[-1].strip("/")
    if text.startswith("projects/"):
        return text
    if "/" in text:
        return f"projects/{project}/{text}"
    return f"projects/{project}/{scope}/{collection}/{text}"


def _bad(field: str, value, why: str) -> ApiError:
    return invalid_value(f"resource.{field}", value, why)


def _in_use(kind: str, path: str, user: str) -> ApiError:
    return ApiError(
        400,
        f"The {kind} resource '{path}' is already being used by '{user}'",
        "resourceInUseByAnotherResource",
    )


def _cidr(field: str, value) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise _bad(field, value, f"Invalid IPCidrRange: {value}.") from None
    if net.version != 4:
        raise _bad(field, value, "IPv6 ranges are set through the stack type, not here.")
    return net


class NetStore:
    """The VPC resources created through the API, by path (``projects/P/global/networks/N``, ...)."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.lock = threading.RLock()
        self.items: dict[str, dict] = {}

    # -- reading
    def store_networks(self, project: str) -> dict[str, int]:
        """The ComputeStore's networks of ``project`` (name -> MTU): the lab's, or set by a test."""
        compute = self.emulator.compute
        with compute.lock:
            found = compute.projects.get(project)
            return dict(found.networks) if found else {}

    def network(self, project: str, name: str) -> dict | None:
        """The network as networks.get shows it (an API one, else the ComputeStore's), or None."""
        path = f"projects/{project}/global/networks/{name}"
        with self.lock:
            held = self.items.get(path)
            if held is not None:
                return self._network_view(held)
        mtu = self.store_networks(project).get(name)
        if mtu is None:
            return None
        return self._network_view(self._store_network(project, name, mtu))

    def _store_network(self, project: str, name: str, mtu: int) -> dict:
        path = f"projects/{project}/global/networks/{name}"
        return {
            "kind": "compute#network",
            "id": _id(path),
            "creationTimestamp": "2026-01-12T08:00:00.000-08:00",
            "name": name,
            "selfLink": f"{API_BASE}/{path}",
            "selfLinkWithId": f"{API_BASE}/projects/{project}/global/networks/{_id(path)}",
            "autoCreateSubnetworks": name == "default",
            "mtu": mtu,
            "routingConfig": {"routingMode": "REGIONAL"},
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
        }

    def _network_view(self, net: dict) -> dict:
        out = copy.deepcopy(net)
        path = net["selfLink"].split("/compute/v1/", 1)[-1]
        subnets = [f"{API_BASE}/{p}" for p, r in self.items.items() if "/subnetworks/" in p and r["_network"] == path]
        if subnets:
            out["subnetworks"] = sorted(subnets)
        peerings = [c["_peering"] for c in self.connections(path)]
        if peerings:
            out["peerings"] = peerings
        return out

    def connections(self, network_path: str) -> list[dict]:
        """Service Networking connections held on a network (the servicenetworking service's)."""
        service = self.emulator.services.get("servicenetworking")
        return service.on_network(network_path) if service is not None else []

    def listing(self, project: str, scope_prefix: str, collection: str) -> list[dict]:
        """Resources of ``collection`` under ``projects/P/<scope_prefix>`` (networks: both kinds)."""
        prefix = f"projects/{project}/{scope_prefix}"
        with self.lock:
            found = {
                p: r for p, r in self.items.items() if p.startswith(prefix) and p.split("/")[-2] == collection
            }
            views = [self.view(p) for p in sorted(found)]
        if collection == "networks":
            held = {v["name"] for v in views}
            for name, mtu in sorted(self.store_networks(project).items()):
                if name not in held:
                    views.append(self._network_view(self._store_network(project, name, mtu)))
            views.sort(key=lambda v: v["name"])
        return views

    def view(self, path: str) -> dict:
        """The resource at ``path`` as Compute shows it (private bookkeeping removed)."""
        with self.lock:
            item = self.items[path]
        if "/networks/" in path and "/subnetworks/" not in path:
            return self._network_view(item)
        return {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}

    def instance_users(self, network_path: str, subnet_path: str | None = None) -> list[str]:
        """Instances (ComputeStore) whose NIC is on the network (or on the subnetwork)."""
        users = []
        compute = self.emulator.compute
        with compute.lock:
            for project in compute.projects.values():
                for zone, records in project.zones.items():
                    for record in records:
                        for nic in record.data.get("networkInterfaces") or ():
                            net = _path(nic.get("network"), project.name, "networks")
                            sub = _path(nic.get("subnetwork"), project.name, "subnetworks",
                                        f"regions/{region_of(zone)}")
                            if (subnet_path and sub == subnet_path) or (not subnet_path and net == network_path):
                                users.append(f"projects/{project.name}/zones/{zone}/instances/{record.data['name']}")
        return users

    def ranges_on(self, network_path: str) -> list[tuple[str, ipaddress.IPv4Network, str]]:
        """(kind, range, resource path) of every subnetwork and VPC_PEERING range on the network."""
        out = []
        with self.lock:
            for path, item in self.items.items():
                if item.get("_network") != network_path:
                    continue
                if "/subnetworks/" in path:
                    out.append(("subnetwork", ipaddress.ip_network(item["ipCidrRange"]), path))
                elif "/addresses/" in path and item.get("purpose") == "VPC_PEERING":
                    block = ipaddress.ip_network(f"{item['address']}/{item['prefixLength']}")
                    out.append(("range", block, path))
        return out


def register(router, emulator):
    """Serve networks, subnetworks, firewalls, routers, globalAddresses and projects.get."""
    store = NetStore(emulator)
    pager = _Pager(secrets.token_bytes(16))

    # -- shared steps
    def begin(call, permission: str):
        _check_alt(call)
        return _project(call, permission)

    def body_of(call) -> dict:
        body = call.request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON payload received.", "invalid")
        return body

    def check_name(body: dict) -> str:
        name = body.get("name")
        if not name:
            raise ApiError(400, "Invalid value for field 'resource.name': ''. Must be specified.", "invalid")
        if not NAME_RE.fullmatch(name):
            raise _bad("name", name, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")
        return name

    def network_path(project, link, field="network") -> str:
        path = _path(link, project.name, "networks")
        if not path or "/global/networks/" not in path:
            raise _bad(field, link, "The URL is malformed.")
        if store.network(path.split("/")[1], path.rsplit("/", 1)[-1]) is None:
            raise not_found(path)
        return path

    def created(project: str, scope: str, collection: str, body: dict, extra: dict) -> dict:
        path = f"projects/{project}/{scope}/{collection}/{body['name']}"
        resource = {
            "kind": extra.pop("kind"),
            "id": _id(path + secrets.token_hex(4)),
            "creationTimestamp": _now(),
            **body,
            **extra,
            "selfLink": f"{API_BASE}/{path}",
        }
        return resource

    def operation(call, project, scope, op_type, path, resource_id=None):
        principal = getattr(call.token, "principal", None)
        user = principal if isinstance(principal, str) else "user@example.com"
        return Response(body=new_operation(call.emulator, project.name, scope, op_type, f"{API_BASE}/{path}",
                                           target_id=resource_id, user=user))

    def insert_item(call, project, scope, path, resource):
        with store.lock:
            if path in store.items:
                raise ApiError(409, f"The resource '{path}' already exists", "alreadyExists")
            store.items[path] = resource
        return operation(call, project, scope, "insert", path, resource["id"])

    def held(project, scope, collection, name) -> tuple[str, dict]:
        path = f"projects/{project.name}/{scope}/{collection}/{name}"
        with store.lock:
            item = store.items.get(path)
        if item is None:
            raise not_found(path)
        return path, item

    def listed(call, project, scope_prefix, collection, kind):
        """A list answer: filtered, ordered by name, in pages of ``maxResults`` (Compute's pager)."""
        items = store.listing(project.name, scope_prefix, collection)
        filter_text = call.arg("filter", "") or ""
        predicate = compile_filter(filter_text)
        if predicate is not None:
            items = [i for i in items if predicate(i)]
        limit = pager.max_results(call)
        query_key = f"{project.name}|{scope_prefix}/{collection}|{filter_text}"
        offset = pager.offset(call, query_key)
        page = items[offset:offset + limit]
        body = {"kind": kind, "id": f"projects/{project.name}/{scope_prefix}/{collection}"}
        if page:
            body["items"] = page
        if offset + limit < len(items):
            body["nextPageToken"] = pager.token(query_key, offset + limit)
        body["selfLink"] = f"{API_BASE}/projects/{project.name}/{scope_prefix}/{collection}"
        return Response(body=body)

    def merged(current: dict, patch: dict) -> dict:
        out = copy.deepcopy(current)
        for key, value in patch.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out

    def immutable(project, current: dict, body: dict, fields, kind: str):
        for field in fields:
            if field not in body or body[field] == current.get(field):
                continue
            wanted, held_value = body[field], current.get(field)
            # a link names the same resource whatever host or partial form it uses
            link = isinstance(wanted, str) and isinstance(held_value, str) and "/" in held_value
            if link and _path(wanted, project.name, field + "s") == _path(held_value, project.name, field + "s"):
                continue
            raise _bad(field, wanted, f"The {field} of a {kind} cannot be changed.")

    # -- projects.get
    def get_project(call):
        project = begin(call, "compute.projects.get")
        return Response(body={
            "kind": "compute#project",
            "id": str(project.number),
            "creationTimestamp": "2026-01-12T08:00:00.000-08:00",
            "name": project.name,
            "selfLink": f"{API_BASE}/projects/{project.name}",
            "defaultNetworkTier": "PREMIUM",
            "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
        })

    # -- networks
    def check_network(body: dict, name: str) -> None:
        if "IPv4Range" in body:
            raise _bad("IPv4Range", body["IPv4Range"], "Legacy networks cannot be created; create a VPC network.")
        if "autoCreateSubnetworks" not in body:
            raise ApiError(
                400,
                "Invalid value for field 'resource.autoCreateSubnetworks': ''. Legacy networks are no longer "
                "supported: set autoCreateSubnetworks (false for a custom-mode VPC network).",
                "invalid",
            )
        mtu = body.get("mtu", DEFAULT_MTU)
        if not 1300 <= int(mtu) <= 8896:
            raise _bad("mtu", mtu, "Must be greater than or equal to 1300 and less than or equal to 8896.")

    def get_network(call):
        project = begin(call, "compute.networks.get")
        found = store.network(project.name, call.params["network"])
        if found is None:
            raise not_found(f"projects/{project.name}/global/networks/{call.params['network']}")
        return Response(body=found)

    def list_networks(call):
        project = begin(call, "compute.networks.list")
        return listed(call, project, "global", "networks", "compute#networkList")

    def insert_network(call):
        project = begin(call, "compute.networks.create")
        body = body_of(call)
        name = check_name(body)
        check_network(body, name)
        path = f"projects/{project.name}/global/networks/{name}"
        if name in store.store_networks(project.name):
            raise ApiError(409, f"The resource '{path}' already exists", "alreadyExists")
        body.setdefault("routingConfig", {"routingMode": "REGIONAL"})
        body["routingConfig"].setdefault("routingMode", "REGIONAL")
        resource = created(project.name, "global", "networks", body, {
            "kind": "compute#network",
            "mtu": int(body.get("mtu", DEFAULT_MTU)),
            "networkFirewallPolicyEnforcementOrder": body.get(
                "networkFirewallPolicyEnforcementOrder", "AFTER_CLASSIC_FIREWALL"),
        })
        resource["selfLinkWithId"] = f"{API_BASE}/projects/{project.name}/global/networks/{resource['id']}"
        return insert_item(call, project, "global", path, resource)

    def patch_network(call):
        project = begin(call, "compute.networks.update")
        name = call.params["network"]
        path = f"projects/{project.name}/global/networks/{name}"
        current = store.network(project.name, name)
        if current is None:
            raise not_found(path)
        body = body_of(call)
        for key in body:
            if key not in ("routingConfig", "mtu", "name") and body[key] != current.get(key):
                raise _bad(key, body[key], "Only routingConfig and mtu can be changed by networks.patch.")
        if body.get("name", name) != name:
            raise _bad("name", body["name"], "The name of a network cannot be changed.")
        new = merged({k: v for k, v in current.items() if k not in ("subnetworks", "peerings")}, body)
        check_network(new, name)
        with store.lock:
            store.items[path] = new
        return operation(call, project, "global", "patch", path, new["id"])

    def delete_network(call):
        project = begin(call, "compute.networks.delete")
        name = call.params["network"]
        path = f"projects/{project.name}/global/networks/{name}"
        current = store.network(project.name, name)
        if current is None:
            raise not_found(path)
        with store.lock:
            users = [p for p, r in store.items.items() if r.get("_network") == path]
        users += store.instance_users(path)
        users += [f"{path}/peerings/{c['_peering']['name']}" for c in store.connections(path)]
        if users:
            raise _in_use("network", path, users[0])
        with store.lock:
            if path not in store.items:
                raise ApiError(
                    400, f"The network resource '{path}' is held by the lab and cannot be deleted through the API",
                    "resourceInUseByAnotherResource")
            del store.items[path]
        return operation(call, project, "global", "delete", path, current["id"])

    # -- subnetworks
    def check_range(project, net_path: str, block, field: str, own: str | None = None) -> None:
        for kind, other, other_path in store.ranges_on(net_path):
            if other_path == own or not block.overlaps(other):
                continue
            if kind == "subnetwork":
                region = other_path.split("/")[3]
                other_name = other_path.rsplit("/", 1)[-1]
                why = f"Invalid IPCidrRange: {block} conflicts with existing subnetwork '{other_name}'"
                raise _bad(field, str(block), f"{why} in region '{region}'.")
            raise _bad(field, str(block), (
                f"Invalid IPCidrRange: {block} conflicts with the private services access range "
                f"'{other_path.rsplit('/', 1)[-1]}' ({other}) of the network."))
        net = store.network(net_path.split("/")[1], net_path.rsplit("/", 1)[-1])
        if net and net.get("autoCreateSubnetworks") and block.overlaps(AUTO_MODE_RANGE):
            raise _bad(field, str(block), (
                f"Invalid IPCidrRange: {block} overlaps {AUTO_MODE_RANGE}, which an auto-mode network reserves for "
                "its subnetworks."))

    def subnet_block(body: dict):
        value = body.get("ipCidrRange")
        if not value:
            raise ApiError(400, "Invalid value for field 'resource.ipCidrRange': ''. Must be specified.", "invalid")
        block = _cidr("ipCidrRange", value)
        if not 8 <= block.prefixlen <= 29:
            raise _bad("ipCidrRange", value, "The prefix length of a subnetwork's range must be between /8 and /29.")
        return block

    def get_subnet(call):
        project = begin(call, "compute.subnetworks.get")
        path, _item = held(project, f"regions/{call.params['region']}", "subnetworks", call.params["name"])
        return Response(body=store.view(path))

    def list_subnets(call):
        project = begin(call, "compute.subnetworks.list")
        return listed(call, project, f"regions/{call.params['region']}", "subnetworks", "compute#subnetworkList")

    def insert_subnet(call):
        project = begin(call, "compute.subnetworks.create")
        region = call.params["region"]
        body = body_of(call)
        name = check_name(body)
        if not body.get("network"):
            raise ApiError(400, "Invalid value for field 'resource.network': ''. Must be specified.", "invalid")
        net_path = network_path(project, body["network"])
        block = subnet_block(body)
        path = f"projects/{project.name}/regions/{region}/subnetworks/{name}"
        with store.lock:
            if path in store.items:
                raise ApiError(409, f"The resource '{path}' already exists", "alreadyExists")
            check_range(project, net_path, block, "ipCidrRange")
            body["network"] = f"{API_BASE}/{net_path}"
            resource = created(project.name, f"regions/{region}", "subnetworks", body, {
                "kind": "compute#subnetwork",
                "region": f"{API_BASE}/projects/{project.name}/regions/{region}",
                "gatewayAddress": str(block.network_address + 1),
                "privateIpGoogleAccess": bool(body.get("privateIpGoogleAccess", False)),
                "purpose": body.get("purpose", "PRIVATE"),
                "stackType": body.get("stackType", "IPV4_ONLY"),
                "fingerprint": _fingerprint(),
            })
            resource["_network"] = net_path
            return insert_item(call, project, f"regions/{region}", path, resource)

    def patch_subnet(call):
        project = begin(call, "compute.subnetworks.patch")
        region = f"regions/{call.params['region']}"
        path, current = held(project, region, "subnetworks", call.params["name"])
        body = body_of(call)
        if "fingerprint" not in body:
            raise ApiError(400, "Required field 'fingerprint' not specified", "required")
        if body["fingerprint"] != current["fingerprint"]:
            raise ApiError(
                412,
                "Supplied fingerprint does not match current metadata fingerprint.",
                "conditionNotMet",
                status="FAILED_PRECONDITION",
            )
        immutable(project, current, body, ("network", "region", "name", "purpose"), "subnetwork")
        if "ipCidrRange" in body and body["ipCidrRange"] != current["ipCidrRange"]:
            raise _bad("ipCidrRange", body["ipCidrRange"], (
                "The range of a subnetwork cannot be changed by subnetworks.patch; it can only be widened, with "
                "subnetworks.expandIpCidrRange."))
        changes = {k: v for k, v in body.items() if k not in ("fingerprint", "network", "region")}
        with store.lock:
            new = merged(current, changes)
            new["fingerprint"] = _fingerprint()
            store.items[path] = new
        return operation(call, project, region, "patch", path, current["id"])

    def expand_subnet(call):
        project = begin(call, "compute.subnetworks.expandIpCidrRange")
        region = f"regions/{call.params['region']}"
        path, current = held(project, region, "subnetworks", call.params["name"])
        body = body_of(call)
        block = subnet_block(body)
        old = ipaddress.ip_network(current["ipCidrRange"])
        if block.prefixlen >= old.prefixlen or not old.subnet_of(block):
            raise _bad("ipCidrRange", str(block), (
                f"The new range must contain the subnetwork's range {old} and be larger; a range cannot shrink or "
                "move."))
        with store.lock:
            check_range(project, current["_network"], block, "ipCidrRange", own=path)
            current["ipCidrRange"] = str(block)
            current["fingerprint"] = _fingerprint()
        return operation(call, project, region, "expandIpCidrRange", path, current["id"])

    def delete_subnet(call):
        project = begin(call, "compute.subnetworks.delete")
        region = f"regions/{call.params['region']}"
        path, current = held(project, region, "subnetworks", call.params["name"])
        users = store.instance_users(current["_network"], path)
        with store.lock:
            for router_path, router in store.items.items():
                for nat in router.get("nats") or ():
                    for sub in nat.get("subnetworks") or ():
                        if _path(sub.get("name"), project.name, "subnetworks") == path:
                            users.append(router_path)
        if users:
            raise _in_use("subnetwork", path, users[0])
        with store.lock:
            del store.items[path]
        return operation(call, project, region, "delete", path, current["id"])

    # -- firewalls
    def check_firewall(project, body: dict) -> dict:
        body.setdefault("network", f"projects/{project.name}/global/networks/default")
        net_path = network_path(project, body["network"])
        body["network"] = f"{API_BASE}/{net_path}"
        body.setdefault("direction", "INGRESS")
        priority = int(body.setdefault("priority", 1000))
        if not 0 <= priority <= 65535:
            raise _bad("priority", priority, "Must be greater than or equal to 0 and less than or equal to 65535.")
        rules = [key for key in ("allowed", "denied") if body.get(key)]
        if len(rules) != 1:
            raise ApiError(400, "Exactly one of 'allowed' or 'denied' must be specified.", "invalid")
        for index, rule in enumerate(body[rules[0]]):
            protocol = str(rule.get("IPProtocol", "")).lower()
            if not protocol:
                raise ApiError(400, f"Invalid value for field 'resource.{rules[0]}[{index}].IPProtocol': ''. "
                               "Must be specified.", "invalid")
            if protocol not in PROTOCOLS and not (protocol.isdigit() and 0 <= int(protocol) <= 255):
                raise _bad(f"{rules[0]}[{index}].IPProtocol", protocol, "Invalid IP protocol.")
            for port in rule.get("ports") or ():
                if protocol not in PORT_PROTOCOLS:
                    raise _bad(f"{rules[0]}[{index}].ports", port, "Ports may only be specified for tcp, udp or sctp.")
                bounds = str(port).split("-")
                if not (1 <= len(bounds) <= 2 and all(b.isdigit() and 0 <= int(b) <= 65535 for b in bounds)):
                    raise _bad(f"{rules[0]}[{index}].ports", port, "Invalid port or port range.")
                if len(bounds) == 2 and int(bounds[0]) > int(bounds[1]):
                    raise _bad(f"{rules[0]}[{index}].ports", port, "Invalid port range.")
        for field in ("sourceRanges", "destinationRanges"):
            for index, value in enumerate(body.get(field) or ()):
                try:
                    ipaddress.ip_network(value, strict=False)
                except ValueError:
                    raise _bad(f"{field}[{index}]", value, "Invalid IPCidrRange.") from None
        if body["direction"] == "EGRESS":
            for field in ("sourceTags", "sourceServiceAccounts"):
                if body.get(field):
                    raise _bad(field, body[field], f"{field} may not be specified for an EGRESS firewall rule.")
        elif not any(body.get(f) for f in ("sourceRanges", "sourceTags", "sourceServiceAccounts")):
            body["sourceRanges"] = ["0.0.0.0/0"]
        if body.get("targetTags") and body.get("targetServiceAccounts"):
            raise ApiError(400, "targetTags and targetServiceAccounts cannot both be specified.", "invalid")
        if body.get("sourceTags") and body.get("sourceServiceAccounts"):
            raise ApiError(400, "sourceTags and sourceServiceAccounts cannot both be specified.", "invalid")
        body.setdefault("disabled", False)
        body.setdefault("logConfig", {"enable": False})
        return body

    def get_firewall(call):
        project = begin(call, "compute.firewalls.get")
        path, _item = held(project, "global", "firewalls", call.params["name"])
        return Response(body=store.view(path))

    def list_firewalls(call):
        project = begin(call, "compute.firewalls.list")
        return listed(call, project, "global", "firewalls", "compute#firewallList")

    def insert_firewall(call):
        project = begin(call, "compute.firewalls.create")
        body = body_of(call)
        name = check_name(body)
        body = check_firewall(project, body)
        path = f"projects/{project.name}/global/firewalls/{name}"
        resource = created(project.name, "global", "firewalls", body, {"kind": "compute#firewall"})
        resource["_network"] = body["network"].split("/compute/v1/", 1)[-1]
        return insert_item(call, project, "global", path, resource)

    def change_firewall(call, replace: bool):
        project = begin(call, "compute.firewalls.update")
        path, current = held(project, "global", "firewalls", call.params["name"])
        body = body_of(call)
        immutable(project, current, body, ("network", "direction", "name"), "firewall rule")
        base = {k: current[k] for k in ("kind", "id", "creationTimestamp", "name", "selfLink", "network",
                                        "direction")}
        new = dict(base, **body) if replace else merged({k: v for k, v in current.items()
                                                         if not k.startswith("_")}, body)
        if not replace and body.get("allowed"):
            new.pop("denied", None)
        elif not replace and body.get("denied"):
            new.pop("allowed", None)
        new["network"] = current["network"]
        new = check_firewall(project, new)
        new["_network"] = current["_network"]
        with store.lock:
            store.items[path] = new
        return operation(call, project, "global", "update" if replace else "patch", path, current["id"])

    def delete_firewall(call):
        project = begin(call, "compute.firewalls.delete")
        path, current = held(project, "global", "firewalls", call.params["name"])
        with store.lock:
            del store.items[path]
        return operation(call, project, "global", "delete", path, current["id"])

    # -- routers
    def check_router(project, region: str, body: dict, own: str) -> dict:
        if not body.get("network"):
            raise ApiError(400, "Invalid value for field 'resource.network': ''. Must be specified.", "invalid")
        net_path = network_path(project, body["network"])
        body["network"] = f"{API_BASE}/{net_path}"
        names = set()
        for index, nat in enumerate(body.get("nats") or ()):
            where = f"nats[{index}]"
            if not nat.get("name"):
                raise ApiError(400, f"Invalid value for field 'resource.{where}.name': ''. Must be specified.",
                               "invalid")
            if nat["name"] in names:
                raise _bad(f"{where}.name", nat["name"], "NAT names must be unique within a router.")
            names.add(nat["name"])
            option = nat.get("natIpAllocateOption")
            if option not in ("AUTO_ONLY", "MANUAL_ONLY"):
                raise _bad(f"{where}.natIpAllocateOption", option or "", "Must be AUTO_ONLY or MANUAL_ONLY.")
            if option == "MANUAL_ONLY" and not nat.get("natIps"):
                raise _bad(f"{where}.natIps", "", "MANUAL_ONLY needs at least one NAT IP address.")
            covered = nat.get("sourceSubnetworkIpRangesToNat")
            if covered not in NAT_RANGES:
                raise _bad(f"{where}.sourceSubnetworkIpRangesToNat", covered or "", f"Must be one of {NAT_RANGES}.")
            if covered == "LIST_OF_SUBNETWORKS":
                if not nat.get("subnetworks"):
                    raise _bad(f"{where}.subnetworks", "", "LIST_OF_SUBNETWORKS needs at least one subnetwork.")
                for sub_index, sub in enumerate(nat["subnetworks"]):
                    sub_path = _path(sub.get("name"), project.name, "subnetworks", f"regions/{region}")
                    with store.lock:
                        item = store.items.get(sub_path or "")
                    if item is None:
                        raise not_found(sub_path or sub.get("name") or "")
                    if item["_network"] != net_path or sub_path.split("/")[3] != region:
                        raise _bad(f"{where}.subnetworks[{sub_index}].name", sub.get("name"), (
                            "The subnetwork must be in the router's network and region."))
                    sub["name"] = f"{API_BASE}/{sub_path}"
                    sub.setdefault("sourceIpRangesToNat", ["ALL_IP_RANGES"])
            else:
                clash = other_all_subnets_nat(net_path, region, own, nat["name"])
                if clash:
                    raise _bad(f"{where}.sourceSubnetworkIpRangesToNat", covered, (
                        f"NAT '{clash}' already covers every subnetwork of this network in region {region}; only one "
                        "NAT of a network and region may use ALL_SUBNETWORKS_*."))
            ports = nat.get("minPortsPerVm")
            if ports is not None and not 2 <= int(ports) <= 65536:
                raise _bad(f"{where}.minPortsPerVm", ports, "Must be between 2 and 65536.")
            log = nat.get("logConfig")
            if log is not None:
                log.setdefault("filter", "ALL")
        return body

    def other_all_subnets_nat(net_path: str, region: str, own: str, nat_name: str) -> str | None:
        with store.lock:
            for path, item in store.items.items():
                if "/routers/" not in path or path == own or item["_network"] != net_path:
                    continue
                if path.split("/")[3] != region:
                    continue
                for nat in item.get("nats") or ():
                    if nat.get("sourceSubnetworkIpRangesToNat", "").startswith("ALL_SUBNETWORKS"):
                        return f"{path.rsplit('/', 1)[-1]}/{nat['name']}"
        return None

    def get_router(call):
        project = begin(call, "compute.routers.get")
        path, _item = held(project, f"regions/{call.params['region']}", "routers", call.params["name"])
        return Response(body=store.view(path))

    def list_routers(call):
        project = begin(call, "compute.routers.list")
        return listed(call, project, f"regions/{call.params['region']}", "routers", "compute#routerList")

    def insert_router(call):
        project = begin(call, "compute.routers.create")
        region = call.params["region"]
        body = body_of(call)
        name = check_name(body)
        path = f"projects/{project.name}/regions/{region}/routers/{name}"
        body = check_router(project, region, body, path)
        resource = created(project.name, f"regions/{region}", "routers", body, {
            "kind": "compute#router",
            "region": f"{API_BASE}/projects/{project.name}/regions/{region}",
        })
        resource["_network"] = body["network"].split("/compute/v1/", 1)[-1]
        return insert_item(call, project, f"regions/{region}", path, resource)

    def change_router(call, replace: bool):
        project = begin(call, "compute.routers.update")
        region = call.params["region"]
        path, current = held(project, f"regions/{region}", "routers", call.params["name"])
        body = body_of(call)
        immutable(project, current, body, ("network", "name", "region"), "router")
        if replace:
            base = {k: current[k] for k in ("kind", "id", "creationTimestamp", "name", "selfLink", "region")}
            new = dict(base, **body)
        else:
            new = merged({k: v for k, v in current.items() if not k.startswith("_")}, body)
        new["network"] = current["network"]
        new = check_router(project, region, new, path)
        new["_network"] = current["_network"]
        with store.lock:
            store.items[path] = new
        return operation(call, project, f"regions/{region}", "update" if replace else "patch", path, current["id"])

    def delete_router(call):
        project = begin(call, "compute.routers.delete")
        region = f"regions/{call.params['region']}"
        path, current = held(project, region, "routers", call.params["name"])
        with store.lock:
            del store.items[path]
        return operation(call, project, region, "delete", path, current["id"])

    # -- global addresses
    def free_block(net_path: str, prefix: int):
        taken = [block for _, block, _ in store.ranges_on(net_path)]
        for candidate in ipaddress.ip_network("10.0.0.0/8").subnets(new_prefix=prefix):
            if not any(candidate.overlaps(block) for block in taken):
                return candidate
        raise ApiError(400, f"No free /{prefix} range is left in 10.0.0.0/8 on the network.", "ipSpaceExhausted")

    def check_address(project, body: dict) -> dict:
        kind = body.setdefault("addressType", "EXTERNAL")
        purpose = body.get("purpose")
        if kind == "INTERNAL" and purpose not in ("VPC_PEERING", "PRIVATE_SERVICE_CONNECT"):
            raise _bad("purpose", purpose or "", (
                "A global INTERNAL address must have purpose VPC_PEERING (private services access) or "
                "PRIVATE_SERVICE_CONNECT."))
        if purpose == "VPC_PEERING":
            if kind != "INTERNAL":
                raise _bad("addressType", kind, "A VPC_PEERING range must be an INTERNAL address.")
            if not body.get("network"):
                raise ApiError(400, "Invalid value for field 'resource.network': ''. A VPC_PEERING range needs "
                               "the network it is allocated in.", "invalid")
            if body.get("prefixLength") is None:
                raise ApiError(400, "Invalid value for field 'resource.prefixLength': ''. A VPC_PEERING range "
                               "needs a prefix length.", "invalid")
            prefix = int(body["prefixLength"])
            if not 8 <= prefix <= 29:
                raise _bad("prefixLength", prefix, "Must be between 8 and 29.")
            net_path = network_path(project, body["network"])
            body["network"] = f"{API_BASE}/{net_path}"
            if body.get("address"):
                block = _cidr("address", f"{body['address']}/{prefix}")
                check_range(project, net_path, block, "address")
            else:
                body["address"] = str(free_block(net_path, prefix).network_address)
            body["_network"] = net_path
        elif kind == "EXTERNAL":
            if body.get("network") or body.get("prefixLength"):
                raise _bad("network", body.get("network", ""), "An EXTERNAL address takes no network or prefix.")
            body.setdefault("address", f"34.{secrets.randbelow(250) + 1}.{secrets.randbelow(250)}."
                                       f"{secrets.randbelow(250) + 1}")
        body.setdefault("ipVersion", "IPV4")
        return body

    def get_address(call):
        project = begin(call, "compute.globalAddresses.get")
        path, _item = held(project, "global", "addresses", call.params["name"])
        return Response(body=store.view(path))

    def list_addresses(call):
        project = begin(call, "compute.globalAddresses.list")
        return listed(call, project, "global", "addresses", "compute#addressList")

    def insert_address(call):
        project = begin(call, "compute.globalAddresses.create")
        body = body_of(call)
        name = check_name(body)
        path = f"projects/{project.name}/global/addresses/{name}"
        with store.lock:
            if path in store.items:
                raise ApiError(409, f"The resource '{path}' already exists", "alreadyExists")
            body = check_address(project, body)
            resource = created(project.name, "global", "addresses", body, {
                "kind": "compute#address", "status": "RESERVED", "labelFingerprint": "42WmSpB8rSM="})
            return insert_item(call, project, "global", path, resource)

    def delete_address(call):
        project = begin(call, "compute.globalAddresses.delete")
        path, current = held(project, "global", "addresses", call.params["name"])
        if current.get("_network"):
            for connection in store.connections(current["_network"]):
                if current["name"] in connection.get("reservedPeeringRanges", ()):
                    raise _in_use("address", path, f"{current['_network']} (Service Networking connection "
                                  f"{connection['_peering']['name']})")
        with store.lock:
            del store.items[path]
        return operation(call, project, "global", "delete", path, current["id"])

    add = router.add
    g = PREFIX + r"/global"
    r = PREFIX + r"/regions/(?P<region>[^/]+)"
    name = r"/(?P<name>[^/]+)"
    routes = [
        ("GET", PREFIX, get_project, "compute.projects.get"),
        ("GET", g + r"/networks/(?P<network>[^/]+)", get_network, "compute.networks.get"),
        ("PATCH", g + r"/networks/(?P<network>[^/]+)", patch_network, "compute.networks.patch"),
        ("DELETE", g + r"/networks/(?P<network>[^/]+)", delete_network, "compute.networks.delete"),
        ("GET", g + r"/networks", list_networks, "compute.networks.list"),
        ("POST", g + r"/networks", insert_network, "compute.networks.insert"),
        ("GET", r + r"/subnetworks" + name, get_subnet, "compute.subnetworks.get"),
        ("PATCH", r + r"/subnetworks" + name, patch_subnet, "compute.subnetworks.patch"),
        ("DELETE", r + r"/subnetworks" + name, delete_subnet, "compute.subnetworks.delete"),
        ("POST", r + r"/subnetworks" + name + r"/expandIpCidrRange", expand_subnet,
         "compute.subnetworks.expandIpCidrRange"),
        ("GET", r + r"/subnetworks", list_subnets, "compute.subnetworks.list"),
        ("POST", r + r"/subnetworks", insert_subnet, "compute.subnetworks.insert"),
        ("GET", g + r"/firewalls" + name, get_firewall, "compute.firewalls.get"),
        ("PATCH", g + r"/firewalls" + name, lambda call: change_firewall(call, False), "compute.firewalls.patch"),
        ("PUT", g + r"/firewalls" + name, lambda call: change_firewall(call, True), "compute.firewalls.update"),
        ("DELETE", g + r"/firewalls" + name, delete_firewall, "compute.firewalls.delete"),
        ("GET", g + r"/firewalls", list_firewalls, "compute.firewalls.list"),
        ("POST", g + r"/firewalls", insert_firewall, "compute.firewalls.insert"),
        ("GET", r + r"/routers" + name, get_router, "compute.routers.get"),
        ("PATCH", r + r"/routers" + name, lambda call: change_router(call, False), "compute.routers.patch"),
        ("PUT", r + r"/routers" + name, lambda call: change_router(call, True), "compute.routers.update"),
        ("DELETE", r + r"/routers" + name, delete_router, "compute.routers.delete"),
        ("GET", r + r"/routers", list_routers, "compute.routers.list"),
        ("POST", r + r"/routers", insert_router, "compute.routers.insert"),
        ("GET", g + r"/addresses" + name, get_address, "compute.globalAddresses.get"),
        ("DELETE", g + r"/addresses" + name, delete_address, "compute.globalAddresses.delete"),
        ("GET", g + r"/addresses", list_addresses, "compute.globalAddresses.list"),
        ("POST", g + r"/addresses", insert_address, "compute.globalAddresses.insert"),
    ]
    for method, pattern, handler, kind in routes:
        # reads also take compute.readonly (the discovery document lists it); mutations only what it lists
        if method == "GET":
            add(method, pattern, handler, kind=kind, scopes=COMPUTE_SCOPES)
        else:
            add(method, pattern, by_request_id(handler), kind=kind, scopes=())
    return store
