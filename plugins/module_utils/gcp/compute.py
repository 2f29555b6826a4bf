"""Compute Engine calls shared by the gce inventory plugin and any module that lists instances."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

if TYPE_CHECKING:
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import GcpClient

DEFAULT_ENDPOINT = "https://compute.googleapis.com"
LIST_PERMISSION = "compute.instances.list"
VIEWER_ROLE = "roles/compute.viewer"


class ComputeApi:
    """Instance and zone listing against ``endpoint`` (``https://compute.googleapis.com`` by default)."""

    def __init__(self, client: GcpClient, endpoint: str | None = None) -> None:
        self.client = client
        self.base = (endpoint or DEFAULT_ENDPOINT).rstrip("/") + "/compute/v1"

    def _context(self, project: str, resource: str, filter_given: bool) -> dict[str, Any]:
        """What error messages name; a 400 points at the filter when one was given (its usual cause)."""
        return {
            "project": project,
            "resource": resource,
            "permission": LIST_PERMISSION,
            "role": VIEWER_ROLE,
            "api": "Compute Engine API",
            "service": "compute.googleapis.com",
            "endpoint_option": "api_endpoint",
            "bad_request_hint": (
                "The 'filter' option is the most likely cause: use one syntax only, either AIP-160 "
                "(status = RUNNING AND labels.role = engine) or regex (name eq 'engine-.*')."
                if filter_given else "Check the project ID and the options."),
        }

    def _pages(self, url: str, params: Mapping[str, Any], context: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield the pages of a listing.

        Only parameters Compute v1's discovery document lists for the method are sent: Google
        refuses any other with a 400, so an undocumented one (such as returnPartialSuccess, which
        the v1 document lists on no method) would fail or cost a retry on every run. Zones out of
        reach come back in the page's ``unreachables`` without it.
        """
        return self.client.paginate(url, params=params, context=context)

    def aggregated_instances(self, project: str, filter_expr: str | None = None, fields: str | None = None,
                             max_results: int = 500) -> Iterator[dict[str, Any]]:
        """Yield aggregatedList pages of instances in every zone of ``project``."""
        url = f"{self.base}/projects/{project}/aggregated/instances"
        params = _list_params(filter_expr, fields, max_results)
        ctx = self._context(project, f"instances of project '{project}'", bool(filter_expr))
        yield from self._pages(url, params, ctx)

    def zone_instances(self, project: str, zone: str, filter_expr: str | None = None, fields: str | None = None,
                       max_results: int = 500) -> Iterator[dict[str, Any]]:
        """Yield list pages of instances in one zone."""
        url = f"{self.base}/projects/{project}/zones/{zone}/instances"
        params = _list_params(filter_expr, fields, max_results)
        ctx = self._context(project, f"instances in zone '{zone}' of project '{project}'", bool(filter_expr))
        yield from self._pages(url, params, ctx)

    def zones(self, project: str) -> list[tuple[str, str]]:
        """Return [(zone, region)] of ``project``."""
        url = f"{self.base}/projects/{project}/zones"
        ctx = self._context(project, f"zones of project '{project}'", False)
        ctx["permission"] = "compute.zones.list"
        out = []
        for page in self.client.paginate(url, params={"fields": "items(name,region),nextPageToken"}, context=ctx):
            for item in page.get("items") or []:
                out.append((item.get("name"), (item.get("region") or "").rsplit("/", 1)[-1]))
        return out

    def network_mtu(self, network_url: str) -> int:
        """MTU of the VPC network an instance's NIC names (its URL; the network may be in a host project)."""
        parts = network_url.split("/")
        if "projects" not in parts or "networks" not in parts:
            raise GcpError(f"'{network_url}' is not a network URL (.../projects/P/global/networks/N)",
                           kind="bad_request")
        project, name = parts[parts.index("projects") + 1], parts[parts.index("networks") + 1]
        ctx = self._context(project, f"network '{name}' of project '{project}'", False)
        ctx["permission"] = "compute.networks.get"
        body = self.client.get_json(f"{self.base}/projects/{project}/global/networks/{name}",
                                    params={"fields": "mtu"}, context=ctx)
        return int(body.get("mtu") or 1460)  # the API leaves mtu out when it is the default, 1460


def _list_params(filter_expr: str | None, fields: str | None, max_results: int) -> dict[str, str]:
    """Query parameters of an instance listing: page size, and the filter and fields when given."""
    params = {"maxResults": str(max_results)}
    if filter_expr:
        params["filter"] = filter_expr
    if fields:
        params["fields"] = fields
    return params
