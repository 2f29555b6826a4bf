"""Listing Compute Engine instances: the API calls, the listing strategies and their pagination.

Projects are listed concurrently; a project too large for one aggregated page is listed zone by
zone in parallel, because the pages of an aggregated listing can only be fetched one after the
other. The MTU of every network a first interface is on is asked for as soon as a listing shows
it, so those requests overlap the listings still running.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute import ComputeApi
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.errors import UnreachableZonesError
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.facts import Instance, last_segment

# A skip_failed_projects warning must not hide a configuration error that hits every project.
NEVER_SKIPPED = ("credentials", "dependency", "bad_request", "unauthenticated")

# What one listing call gives: its instances (None for a probe that found more pages), the zones
# the API reported unreachable, and whether further aggregated pages exist.
_Result = tuple[list[Instance] | None, list[str], bool]
_T = TypeVar("_T")


class Listing(TypedDict):
    """What list_instances returns and the inventory cache stores (plain JSON)."""

    # [project, raw instance] in a stable order (project as configured, zone, name)
    instances: list[list[Any]]
    # network URL: MTU
    network_mtu: dict[str, int]


@dataclass(frozen=True)
class ListingRequest:
    """What to list and how (the plugin's options, templated and checked)."""

    projects: Sequence[str]
    fields: str  # partial-response selector of one Instance
    zones: Sequence[str] = ()
    regions: Collection[str] = ()
    filter: str | None = None
    strategy: str = "auto"  # auto, aggregated or zonal
    concurrency: int = 16
    with_mtu: bool = False
    skip_failed_projects: bool = False
    unreachable_zones: str = "warn"  # warn or error


def list_instances(api: ComputeApi, request: ListingRequest, warn: Callable[[str], None]) -> Listing:
    """List the instances of ``request`` (and, ``with_mtu``, the MTU of their networks).

    Raises the GcpError of the first project that failed (unless skip_failed_projects skips it,
    with a warning through ``warn``) and UnreachableZonesError when zones were out of reach and
    unreachable_zones is ``error``.
    """
    with ThreadPoolExecutor(max_workers=request.concurrency, thread_name_prefix="gce") as pool:
        lister = _Lister(api, request, pool)
        lister.run()
        mtus = lister.network_mtus(warn)
    lister.raise_or_skip_failures(warn)
    if lister.unreachable:
        msg = ("the Compute API could not reach " + ", ".join(sorted(set(lister.unreachable)))
               + "; instances there are missing from this inventory. Retry later, or list zones explicitly.")
        if request.unreachable_zones == "error":
            raise UnreachableZonesError(msg)
        warn(msg)
    return {"instances": lister.rows(), "network_mtu": mtus}


class _Lister:
    """One listing run: the requests in flight on ``pool`` and what they brought back so far."""

    def __init__(self, api: ComputeApi, request: ListingRequest, pool: ThreadPoolExecutor) -> None:
        self.api = api
        self.request = request
        self.pool = pool
        self.per_project: dict[str, list[Instance]] = {p: [] for p in request.projects}
        self.failed: dict[str, GcpError] = {}
        self.unreachable: list[str] = []
        # {network URL: future}: one networks.get per network, sent as soon as a listing shows it.
        self.mtu_jobs: dict[str, Future[int]] = {}

    def run(self) -> None:
        """Send the listings of the configured strategy and collect every one of them."""
        request = self.request
        if request.zones:
            jobs = [(p, self._submit(p, z)) for p in request.projects for z in request.zones]
        elif request.regions or request.strategy == "zonal":
            jobs = self._zonal()
        elif request.strategy == "aggregated":
            jobs = [(p, self._submit(p, None)) for p in request.projects]
        else:
            jobs = self._auto()
        for project, (instances, unreached, _more) in self._settled(jobs):
            self._collect(project, instances or [], unreached)

    def _zonal(self) -> list[tuple[str, Future[_Result]]]:
        """List each project's zones, then each zone (of the configured regions, if any)."""
        listed = [(p, self.pool.submit(self.api.zones, p)) for p in self.request.projects]
        jobs = []
        for project, zones in self._settled(listed):
            jobs.extend(self._zone_jobs(project, zones))
        return jobs

    def _auto(self) -> list[tuple[str, Future[_Result]]]:
        """One aggregated page per project; a project with more than one page is then listed zone by zone.

        While there are workers to spare, each project's zones are asked for alongside its probe (one
        request that a project fitting one page does not use): that saves a round trip before the zone
        listings can start.
        """
        projects = self.request.projects
        speculate = 2 * len(projects) <= self.request.concurrency
        probes = [(p, self._submit(p, None, probe=True)) for p in projects]
        zone_lists = {p: self.pool.submit(self.api.zones, p) for p in projects} if speculate else {}
        big: list[tuple[str, Future[list[tuple[str, str]]]]] = []
        probe_unreached: dict[str, list[str]] = {}
        for project, (instances, unreached, more) in self._settled(probes):
            if more:
                probe_unreached[project] = unreached
                big.append((project, zone_lists.get(project) or self.pool.submit(self.api.zones, project)))
            else:
                self._collect(project, instances or [], unreached)
        jobs = []
        for project, zones in self._settled(big):
            unreached = probe_unreached[project]
            self.unreachable.extend(f"{project}/{u}" for u in unreached)
            jobs.extend(self._zone_jobs(project, zones, skip=set(unreached)))
        return jobs

    def _zone_jobs(self, project: str, zones: list[tuple[str, str]],
                   skip: Collection[str] = ()) -> list[tuple[str, Future[_Result]]]:
        """Per-zone listings; zones the aggregated probe reported unreachable are not asked again."""
        regions = self.request.regions
        return [(project, self._submit(project, zone)) for zone, region in zones
                if not ((regions and region not in regions) or f"zones/{zone}" in skip)]

    def _submit(self, project: str, zone: str | None, probe: bool = False) -> Future[_Result]:
        return self.pool.submit(self._list, project, zone, probe)

    def _list(self, project: str, zone: str | None, probe: bool) -> _Result:
        """List one project (aggregated) or one zone, in a worker thread.

        With ``probe`` only the first aggregated page is read, and the result tells whether further
        pages exist. A zone that still answers 503 after the retries is reported as unreachable, like
        the API's own ``unreachables``.
        """
        api, request = self.api, self.request
        instances: list[Instance] = []
        unreached: list[str] = []
        try:
            if zone:
                fields = f"items({request.fields}),nextPageToken"
                for page in api.zone_instances(project, zone, request.filter, fields=fields):
                    instances.extend(page.get("items") or [])
            else:
                fields = f"items/*/instances({request.fields}),nextPageToken,unreachables,warning"
                for page in api.aggregated_instances(project, request.filter, fields=fields):
                    for scoped in (page.get("items") or {}).values():
                        instances.extend(scoped.get("instances") or ())
                    unreached.extend(page.get("unreachables") or ())
                    if probe and page.get("nextPageToken"):
                        return None, unreached, True
        except GcpError as exc:
            if zone and exc.status == 503:
                return [], [f"zones/{zone}"], False
            raise
        return instances, unreached, False

    def _collect(self, project: str, instances: list[Instance], unreached: list[str]) -> None:
        self.per_project[project].extend(instances)
        self.unreachable.extend(f"{project}/{u}" for u in unreached)
        if self.request.with_mtu:
            for inst in instances:
                url = (inst.get("networkInterfaces") or [{}])[0].get("network")
                if url and url not in self.mtu_jobs:
                    self.mtu_jobs[url] = self.pool.submit(self.api.network_mtu, url)

    def _settled(self, jobs: Iterable[tuple[str, Future[_T]]]) -> Iterator[tuple[str, _T]]:
        """Each project's result, in the order given; a project whose call failed is recorded and left out."""
        for project, future in jobs:
            try:
                result = future.result()
            except GcpError as exc:
                self._fail(project, exc)
                continue
            yield project, result

    def _fail(self, project: str, exc: GcpError) -> None:
        # Without its traceback: the frames of _list in it hold this lister, which holds the error,
        # a cycle that would keep the whole listing alive past a skipped project (the collector is
        # paused and then frozen, see memory.bulk_build). The message says all a user needs.
        self.failed.setdefault(project, exc.with_traceback(None))

    def network_mtus(self, warn: Callable[[str], None]) -> dict[str, int]:
        """{network URL: MTU} from the networks.get requests sent while listing.

        A network that cannot be read (no compute.networks.get, a host project out of reach) only
        costs its hosts the network_mtu fact, with a warning: the inventory itself stays usable.
        """
        mtus = {}
        for url, future in sorted(self.mtu_jobs.items()):
            try:
                mtus[url] = future.result()
            except GcpError as exc:
                warn(f"no network_mtu for hosts on {last_segment(url)}: {exc}")
        return mtus

    def raise_or_skip_failures(self, warn: Callable[[str], None]) -> None:
        """Raise the first project failure that may not be skipped; warn about each one skipped before it."""
        for project, exc in self.failed.items():
            if not self.request.skip_failed_projects or exc.kind in NEVER_SKIPPED:
                raise exc
            warn(f"skipping project '{project}': {exc}")

    def rows(self) -> list[list[Any]]:
        """[project, instance] of every project listed, in the order of ``projects``, then zone and name."""
        out: list[list[Any]] = []
        for project in self.request.projects:
            if project in self.failed:
                continue
            rows = self.per_project[project]
            rows.sort(key=lambda i: (i.get("zone") or "", i.get("name") or ""))
            out.extend([project, inst] for inst in rows)
        return out
