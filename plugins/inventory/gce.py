"""Google Compute Engine dynamic inventory for nearzero (``plugin: gce`` or ``nearzero.gcp.gce``)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gce
short_name: gce
author: nearzero
short_description: Google Compute Engine inventory, fast and safe
description:
  - Lists Compute Engine VM instances of one or more projects, concurrently, and makes one host per instance.
  - Each host gets one dictionary of facts (O(hostvar_name), default C(gce)) and C(ansible_host).
  - "The facts are C(name), C(id) (integer), C(project), C(zone), C(region), C(status), C(machine_type),
    C(machine_family), C(cpu_platform), C(private_ip), C(public_ip), C(ipv6), C(internal_dns) (the instance's
    custom hostname, else C(<name>.<zone>.c.<project>.internal)), C(network), C(subnetwork), C(nic_type) (first
    network interface), C(network_mtu) (MTU of that interface's VPC network, one C(networks.get) per network;
    needs C(compute.networks.get), else a warning and no value), C(tier_1), C(labels), C(tags), C(metadata)
    (only O(metadata_keys)), C(gpus) (list of C(type) and C(count)), C(placement_policies),
    C(provisioning_model), C(service_accounts), C(self_link) and C(creation_timestamp). O(hostvar_keys) chooses
    which of them are stored on the host; O(compose), O(groups), O(keyed_groups), O(hostnames) and the default
    groups see all of them."
  - Keys whose value is absent or empty are left out to keep the inventory small; C(tier_1) is present only when
    true and C(provisioning_model) only when not C(STANDARD).
  - API data (names, labels, metadata) is never templated.
  - Duplicate host names are never merged silently. By default every colliding host is renamed
    C(<hostname>.<zone>.<project>); O(duplicate_names=error) fails instead.
  - A source that fails part way (a O(strict) template on one host) takes out every host and group it had
    added, so a playbook never runs on a fleet cut short (ansible-core only warns about a failed source).
  - The configuration file name must end in C(gce.yml) or C(gce.yaml).
  - Render the resulting group tree with C(tools/inventory_graph.py) (Graphviz), see EXAMPLES.
version_added: 0.1.0
requirements:
  - requests
  - google-auth
  - jmespath (only for O(include) and O(exclude))
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    type: str
    required: true
    choices: [gce, nearzero.gcp.gce]
  projects:
    description:
      - Project IDs to list instances from. Fetched concurrently.
    type: list
    elements: str
    required: true
  zones:
    description:
      - Only these zones (one C(instances.list) call per project and zone, server side).
      - Default all zones (one C(aggregated/instances) listing per project).
    type: list
    elements: str
    default: []
  regions:
    description:
      - Only zones of these regions (the zones of each project are listed, then listed per zone, server side).
      - Ignored when O(zones) is set.
    type: list
    elements: str
    default: []
  list_strategy:
    description:
      - How instances are listed when O(zones) and O(regions) are not set.
      - V(auto) reads one C(aggregated/instances) page per project; a project with more than one page is
        then listed zone by zone in parallel (one C(zones) call plus one call per zone), since the pages of
        an aggregated listing can only be fetched one after the other. While O(concurrency) leaves workers to
        spare (at least two per project), the C(zones) call is sent alongside the first page, saving a round
        trip for large projects at the price of one unused call for a project that fits one page.
      - V(aggregated) always pages through C(aggregated/instances) (fewest requests).
      - V(zonal) always lists the zones, then each zone in parallel.
    type: str
    choices: [auto, aggregated, zonal]
    default: auto
  filter:
    description:
      - Compute API filter expression applied server side, for example C(labels.role = trading-engine).
      - Use one syntax only, AIP-160 (C(status = RUNNING AND labels.env = prod)) or regex (C(name eq 'engine-.*')).
    type: str
  include:
    description:
      - JMESPath expressions evaluated on each raw instance (API field names, e.g. C(labels.role == 'engine'));
        when given, an instance is kept only if at least one is true.
      - Only fields the plugin requests are present (see O(extra_fields)).
    type: list
    elements: str
    default: []
  exclude:
    description:
      - JMESPath expressions evaluated on each raw instance; an instance is dropped if any is true.
    type: list
    elements: str
    default: []
  extra_fields:
    description:
      - Additional Instance fields to request (partial-response syntax, e.g. C(scheduling/preemptible),
        C(disks/diskSizeGb)) so that O(include) and O(exclude) can see them.
      - They are used for filtering only; host variables keep the documented compact layout.
    type: list
    elements: str
    default: []
  statuses:
    description:
      - Keep only instances in these states (PROVISIONING, STAGING, RUNNING, STOPPING, STOPPED, SUSPENDING,
        SUSPENDED, REPAIRING, TERMINATED). An empty list keeps every state.
    type: list
    elements: str
    default: [RUNNING]
  hostnames:
    description:
      - Ordered preference for the inventory host name; the first one the instance has wins.
      - V(name), V(private_ip), V(public_ip), V(ipv6), V(internal_dns) or V(label:KEY) (value of label KEY).
      - The instance name is the last resort when no entry matches, so no instance is ever dropped.
    type: list
    elements: str
    default: [name]
  ansible_host_preference:
    description:
      - Ordered preference for C(ansible_host); same values as O(hostnames). Not set when none matches.
    type: list
    elements: str
    default: [private_ip, ipv6, public_ip]
  duplicate_names:
    description:
      - What to do when two instances get the same host name (same name in two projects or zones).
      - V(qualify) renames every colliding host C(<hostname>.<zone>.<project>), for example
        C(engine-1.us-central1-a.prod-project); V(error) fails listing the collisions.
      - When host names come from labels or addresses and still collide within one zone, the instance name
        is added too, C(<hostname>.<instance name>.<zone>.<project>) (and the instance id if even that collides).
    type: str
    choices: [qualify, error]
    default: qualify
  api_endpoint:
    description:
      - Base URL of the Compute Engine API (C(/compute/v1) is appended). Templates are accepted, e.g.
        C("{{ lookup('env', 'NEARZERO_EMULATOR_URL') }}").
    type: str
    default: https://compute.googleapis.com
    env:
      - name: GCP_COMPUTE_ENDPOINT
  concurrency:
    description:
      - Maximum number of API requests in flight (thread pool size). Zone-by-zone listings of a large project
        are spread over this many requests at a time.
    type: int
    default: 16
  hostvar_name:
    description: Name of the one dictionary of instance facts set on each host.
    type: str
    default: gce
  hostvar_keys:
    description:
      - Which facts are stored in the O(hostvar_name) dictionary of every host; C([all]) stores every fact.
      - The default keeps what playbooks and the nearzero roles use. Every stored string costs ansible-core
        time twice (it tags the value when it is set and re-encodes it in C(--list)), so on a large fleet
        each key left out makes the inventory measurably faster.
      - "Left out by default because the host already has them: C(region) is the zone without its last
        C(-<letter>) (and a group, C(region_<region>)); C(name) is C(inventory_hostname_short) (the host name
        itself, or its first part when a duplicate is qualified as C(<name>.<zone>.<project>)). With O(hostnames)
        other than C([name]), the default stores C(name) too."
      - Facts that are not stored can still drive O(compose), O(groups) and O(keyed_groups); to use one in a
        play, add it here (or copy it with O(compose)).
    type: list
    elements: str
    default: [project, zone, machine_type, nic_type, network_mtu, private_ip, public_ip, ipv6, tier_1, labels,
              metadata, gpus, placement_policies, provisioning_model]
  metadata_keys:
    description:
      - Instance metadata keys copied into C(<hostvar_name>.metadata). Default none, so ssh keys and startup
        scripts never reach the inventory.
    type: list
    elements: str
    default: []
  default_groups:
    description:
      - Make the default groups C(project_<p>), C(region_<r>), C(zone_<z>), C(family_<machine family>),
        C(gpu) and C(gpu_<accelerator type>), C(status_<status in lower case>), and C(<label key>_<label value>)
        for each label (C(<key>_) if the value is empty). Network tag groups come with O(tag_groups).
      - Group names are sanitised, every character other than a letter, digit or C(_) becomes C(_)
        (label C(role=trading-engine) gives C(role_trading_engine), zone C(us-central1-a) gives
        C(zone_us_central1_a)).
    type: bool
    default: true
  tag_groups:
    description:
      - With O(default_groups), also make C(tag_<network tag>) for each network tag.
      - Off by default. Network tags drive firewall rules and routes, labels are what classifies hosts;
        and every group a host belongs to costs ansible-core time in each task's variables and in
        C(ansible-inventory --list) (GCE hosts commonly carry several tags).
    type: bool
    default: false
  skip_failed_projects:
    description:
      - When a project cannot be listed (not found, permission denied, API disabled, unreachable), warn and
        go on with the others instead of failing.
    type: bool
    default: false
  unreachable_zones:
    description:
      - What to do when the API reports zones it could not reach (C(unreachables)); their instances are missing.
    type: str
    choices: [warn, error]
    default: warn
"""

EXAMPLES = r"""
---
# inventory/prod.gce.yml: two projects, application default credentials
plugin: nearzero.gcp.gce
projects: [trading-prod-us, trading-prod-eu]
filter: labels.env = prod
hostnames: [name]
keyed_groups:
  - key: gce.labels.team | default('none')
    prefix: team

---
# Only two zones, service-account key kept in a vault, public hosts reached by their external IP
plugin: gce
projects: [trading-lab]
zones: [us-central1-a, us-central1-b]
auth_kind: serviceaccount
service_account_contents: "{{ vault_gcp_key }}"
ansible_host_preference: [public_ip, private_ip]

---
# Impersonation, GPU hosts only, cache for ten minutes
plugin: gce
projects: [trading-prod-us]
auth_kind: impersonate
impersonate_service_account: inventory@trading-prod-us.iam.gserviceaccount.com
include:
  - "guestAccelerators[0].acceleratorCount > `0`"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: .cache/inventory
cache_timeout: 600

---
# Draw the group tree (groups with host counts) with Graphviz:
#   ansible-inventory -i inventory/prod.gce.yml --list > inv.json
#   python tools/inventory_graph.py inv.json -o inventory.svg
"""

import contextlib
import functools
import gc
import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.vars import combine_vars
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.auth import AUTH_OPTIONS, build_credentials
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import GcpClient
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute import ComputeApi
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

try:
    import jmespath
except ImportError:
    jmespath = None

# The Instance fields each fact is built from. Only the fields of the facts a configuration uses
# are requested (partial response): less for the API to send and for the plugin to parse.
_FACT_FIELDS = {
    "id": ("id",), "status": ("status",), "machine_type": ("machineType",), "machine_family": ("machineType",),
    "cpu_platform": ("cpuPlatform",), "internal_dns": ("hostname",), "self_link": ("selfLink",),
    "creation_timestamp": ("creationTimestamp",), "labels": ("labels",), "tags": ("tags/items",),
    "metadata": ("metadata/items",), "gpus": ("guestAccelerators",), "placement_policies": ("resourcePolicies",),
    "provisioning_model": ("scheduling/provisioningModel",),
    "tier_1": ("networkPerformanceConfig/totalEgressBandwidthTier",), "service_accounts": ("serviceAccounts/email",),
}
# Facts taken from the first network interface: the sub-fields of networkInterfaces(...) they need.
_NIC_FIELDS = {
    "private_ip": ("networkIP",), "ipv6": ("ipv6Address", "ipv6AccessConfigs/externalIpv6"),
    "public_ip": ("accessConfigs/natIP",), "network": ("network",), "subnetwork": ("subnetwork",),
    "nic_type": ("nicType",), "network_mtu": ("network",),
}
# Always requested: names, zone and status (statuses), id (the last resort for duplicate names).
_BASE_FIELDS = ("id", "name", "zone", "status")
# Options that change what the API returns (part of the inventory cache key).
_REQUEST_OPTIONS = ("projects", "zones", "regions", "filter", "list_strategy", "api_endpoint")
# Facts the default groups are made from.
_GROUP_FACTS = ("region", "status", "machine_family", "gpus", "labels")
_HOSTNAME_KINDS = ("name", "private_ip", "public_ip", "ipv6", "internal_dns")
# Every fact _facts() can produce (the documented layout), for validating hostvar_keys.
_FACT_KEYS = (
    "name", "id", "project", "zone", "region", "status", "machine_type", "machine_family", "cpu_platform",
    "internal_dns", "self_link", "creation_timestamp", "private_ip", "ipv6", "public_ip", "network", "subnetwork",
    "nic_type", "network_mtu", "tier_1", "provisioning_model", "labels", "tags", "metadata", "gpus",
    "placement_policies", "service_accounts",
)
# Facts copied as they are from one key of the raw Instance, when needed.
_RAW_FACTS = (("status", "status"), ("cpu_platform", "cpuPlatform"), ("self_link", "selfLink"),
              ("creation_timestamp", "creationTimestamp"))
_UNSAFE_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")
# A skip_failed_projects warning must not hide a configuration error that hits every project.
_NEVER_SKIPPED = ("credentials", "dependency", "bad_request", "unauthenticated")


def _base(url):
    return url.rsplit("/", 1)[-1] if url else None


# Values repeated across many hosts (a zone, a machine type, a label value, an MTU...). ansible-core
# tags every stored value with its origin unless it already carries one; handing it the tagged value
# it made for an earlier host lets it skip re-tagging (and keeps one copy in memory). Trust is not
# touched: the values stay untrusted exactly as ansible-core stored them the first time.
_SHARED = ("project", "zone", "region", "status", "machine_type", "machine_family", "cpu_platform", "network",
           "subnetwork", "nic_type", "network_mtu", "provisioning_model", "creation_timestamp")
_SHARED_LISTS = ("tags", "service_accounts", "placement_policies")


def _share(facts, interned):
    """Swap repeated values in ``facts`` for the tagged copies already stored; True if some were new."""
    missing = _swap(facts, _SHARED, interned)
    labels = facts.get("labels")
    if labels:
        missing = _swap(labels, list(labels), interned) or missing
    for key in _SHARED_LISTS:
        items = facts.get(key)
        if items:
            missing = _swap(items, range(len(items)), interned) or missing
    for gpu in facts.get("gpus") or ():
        missing = _swap(gpu, ("type", "count"), interned) or missing
    return missing


def _swap(container, keys, interned):
    """Replace ``container[key]`` by its interned copy for each key; True if a value was not known yet."""
    missing = False
    for key in keys:
        try:
            value = container[key]
        except (KeyError, IndexError):
            continue
        known = interned.get(value)
        if known is None:
            missing = True
        else:
            container[key] = known
    return missing


def _learn(stored, interned):
    """Remember the tagged values ansible-core stored for one host (see _share)."""
    for key in _SHARED:
        value = stored.get(key)
        if value is not None:
            interned.setdefault(value, value)
    for value in (stored.get("labels") or {}).values():
        interned.setdefault(value, value)
    for key in _SHARED_LISTS:
        for value in stored.get(key) or ():
            interned.setdefault(value, value)
    for gpu in stored.get("gpus") or ():
        for value in gpu.values():
            interned.setdefault(value, value)


# Whether _bulk_build() froze the heap of this process (see there).
_FROZEN = {"heap": False}


@contextlib.contextmanager
def _bulk_build():
    """Pause the cyclic garbage collector while the inventory is listed and built, then freeze it.

    Listing and building 10,000 hosts allocates millions of objects that all stay alive: the
    collector would scan that growing heap again and again (about a tenth of `--graph`), and each
    later full collection (in `--list`, in every playbook task) would scan it once more. Paused, it
    scans nothing here; frozen (``gc.freeze``), the inventory is left out of later collections.
    Reference counting still frees whatever is dropped. A second parse in the same process
    (``meta: refresh_inventory``) first hands the previous inventory back to the collector, so it is
    not kept forever. The collector's state is restored, also on error (then nothing is frozen).
    """
    if _FROZEN["heap"]:
        gc.unfreeze()
        gc.collect()
        _FROZEN["heap"] = False
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    _FROZEN["heap"] = True


@functools.lru_cache(maxsize=4096)
def _group(prefix, value):
    """A safe group name; cached, because the same few zones, families and labels recur on every host."""
    return _UNSAFE_GROUP_CHARS.sub("_", f"{prefix}_{value}")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Builds hosts and groups from Compute Engine instances."""

    NAME = "nearzero.gcp.gce"
    # Never trust templates from this plugin's data: labels and metadata come from the API.
    trusted_by_default = False

    def verify_file(self, path):
        """Accept only files whose name ends in gce.yml or gce.yaml."""
        return super().verify_file(path) and path.endswith(("gce.yml", "gce.yaml"))

    # -- options ---------------------------------------------------------------------------
    def _templated(self, name):
        """Return option ``name`` with templates from the configuration file rendered (vault, lookups).

        Only configuration values are templated; they come from the trusted inventory file.
        """
        value = self.get_option(name)
        if value is None:
            return None
        return self.templar.template(value)

    def _auth_params(self):
        params = {name: self._templated(name) for name in AUTH_OPTIONS}
        params["scopes"] = list(params["scopes"] or [])
        return params

    # -- fetching -----------------------------------------------------------------------------
    def _fetch(self, fields, with_mtu):
        """Fetch the instances (``fields`` of each) and, ``with_mtu``, the MTU of their networks.

        Plain JSON, so it can be cached as it is.

        Returns ``{"instances": [[project, raw_instance], ...], "network_mtu": {network URL: MTU}}``,
        the instances in a stable order (project, zone, name).
        """
        params = self._auth_params()
        concurrency = max(1, int(self.get_option("concurrency")))
        try:
            client = GcpClient(
                build_credentials(params),
                timeout=self.get_option("timeout"),
                retries=self.get_option("retries"),
                backoff_base=self.get_option("retry_backoff"),
                backoff_max=self.get_option("retry_backoff_max"),
                pool_size=concurrency,
            )
            # Fetch the one token before the threads start, so they share it instead of racing.
            client.ensure_token()
        except GcpError as exc:
            raise AnsibleError(f"gce inventory: {exc}") from None
        endpoint = self._templated("api_endpoint")
        if not endpoint or not str(endpoint).startswith(("http://", "https://")):
            raise AnsibleError(
                f"gce inventory: api_endpoint is {endpoint!r}, not an http(s) URL. If it comes from a lookup such as "
                "lookup('env', 'SOME_VARIABLE'), set that variable in the environment of ansible-inventory, "
                "or remove api_endpoint to use Google's.")
        api = ComputeApi(client, str(endpoint))
        projects = [str(p) for p in self._templated("projects") or []]
        if not projects:
            raise AnsibleError("gce inventory: 'projects' is empty; list at least one project ID.")
        zones = [str(z) for z in self._templated("zones") or []]
        regions = [str(r) for r in self._templated("regions") or []]
        filter_expr = self._templated("filter")

        strategy = self.get_option("list_strategy")
        per_project = {p: [] for p in projects}
        failed = {}
        unreachable = []
        # {network URL: future}: each network is asked for as soon as a listing shows it, so the
        # MTU requests overlap the listings still running instead of adding a round trip after them.
        mtu_jobs = {}

        def collect(project, result):
            if isinstance(result, GcpError):
                failed.setdefault(project, result)
                return
            instances, unreached = result
            per_project[project].extend(instances)
            unreachable.extend(f"{project}/{u}" for u in unreached)
            if with_mtu:
                for inst in instances:
                    url = (inst.get("networkInterfaces") or [{}])[0].get("network")
                    if url and url not in mtu_jobs:
                        mtu_jobs[url] = pool.submit(self._call, api.network_mtu, url)

        def zone_jobs(project, zone_list, skip=()):
            """Per-zone listings; zones the aggregated probe reported unreachable are not asked again."""
            jobs = []
            for zone, region in zone_list:
                if (regions and region not in regions) or f"zones/{zone}" in skip:
                    continue
                jobs.append((project, pool.submit(self._list, api, project, zone, filter_expr, fields)))
            return jobs

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gce") as pool:
            jobs = []
            if zones:
                jobs = [(p, pool.submit(self._list, api, p, z, filter_expr, fields)) for p in projects for z in zones]
            elif regions or strategy == "zonal":
                listed = [(p, pool.submit(self._call, api.zones, p)) for p in projects]
                for project, future in listed:
                    result = future.result()
                    if isinstance(result, GcpError):
                        collect(project, result)
                    else:
                        jobs.extend(zone_jobs(project, result))
            elif strategy == "aggregated":
                jobs = [(p, pool.submit(self._list, api, p, None, filter_expr, fields)) for p in projects]
            else:
                # auto: one aggregated page per project; a project with more than one page is then
                # listed zone by zone in parallel, because page tokens make the aggregated pages of a
                # project strictly sequential. While there are workers to spare, each project's zones
                # are asked for alongside its probe (one request that a project fitting one page
                # does not use): that saves a round trip before the zone listings can start.
                speculate = 2 * len(projects) <= concurrency
                probes = [(p, pool.submit(self._list, api, p, None, filter_expr, fields, True)) for p in projects]
                zone_lists = {p: pool.submit(self._call, api.zones, p) for p in projects} if speculate else {}
                big = []
                for project, future in probes:
                    result = future.result()
                    if isinstance(result, tuple) and result[2]:
                        zones_future = zone_lists.get(project) or pool.submit(self._call, api.zones, project)
                        big.append((project, result[1], zones_future))
                    else:
                        collect(project, result[:2] if isinstance(result, tuple) else result)
                for project, unreached, future in big:
                    result = future.result()
                    if isinstance(result, GcpError):
                        collect(project, result)
                        continue
                    unreachable.extend(f"{project}/{u}" for u in unreached)
                    jobs.extend(zone_jobs(project, result, skip=set(unreached)))
            for project, future in jobs:
                result = future.result()
                collect(project, result[:2] if isinstance(result, tuple) else result)
            mtus = self._network_mtus(mtu_jobs)
        self._handle_failures(failed)
        if unreachable:
            msg = ("gce inventory: the Compute API could not reach " + ", ".join(sorted(set(unreachable)))
                   + "; instances there are missing from this inventory. Retry later, or list zones explicitly.")
            if self.get_option("unreachable_zones") == "error":
                raise AnsibleError(msg)
            self.display.warning(msg)
        out = []
        for project in projects:
            if project in failed:
                continue
            rows = per_project[project]
            rows.sort(key=lambda i: (i.get("zone") or "", i.get("name") or ""))
            out.extend([project, inst] for inst in rows)
        return {"instances": out, "network_mtu": mtus}

    def _network_mtus(self, jobs):
        """{network URL: MTU} from the networks.get ``jobs`` (one per network of a first interface).

        A network that cannot be read (no compute.networks.get, a host project out of reach) only
        costs its hosts the network_mtu fact, with a warning: the inventory itself stays usable.
        """
        mtus = {}
        for url, future in sorted(jobs.items()):
            result = future.result()
            if isinstance(result, GcpError):
                self.display.warning(f"gce inventory: no network_mtu for hosts on {_base(url)}: {result}")
            else:
                mtus[url] = result
        return mtus

    @staticmethod
    def _call(func, *args):
        try:
            return func(*args)
        except GcpError as exc:
            return exc

    def _list(self, api, project, zone, filter_expr, fields, probe=False):
        """List one project (aggregated) or one zone.

        Returns (instances, unreachables, more) or a GcpError. With ``probe`` only the first
        aggregated page is read and ``more`` tells whether further pages exist. A zone that
        still answers 503 after the retries is reported as unreachable, like ``unreachables``.
        """
        instances, unreached = [], []
        try:
            if zone:
                for page in api.zone_instances(project, zone, filter_expr, fields=f"items({fields}),nextPageToken"):
                    instances.extend(page.get("items") or [])
            else:
                agg_fields = f"items/*/instances({fields}),nextPageToken,unreachables,warning"
                for page in api.aggregated_instances(project, filter_expr, fields=agg_fields):
                    for scoped in (page.get("items") or {}).values():
                        instances.extend(scoped.get("instances") or ())
                    unreached.extend(page.get("unreachables") or ())
                    if probe and page.get("nextPageToken"):
                        return None, unreached, True
        except GcpError as exc:
            if zone and exc.status == 503:
                return [], [f"zones/{zone}"], False
            return exc
        return instances, unreached, False

    def _needed_facts(self):
        """The facts this configuration uses: stored, grouped on, or picked for names and addresses."""
        keep = self._stored_keys()
        if keep is None or self.get_option("compose") or self.get_option("groups") or \
                self.get_option("keyed_groups"):
            needed = set(_FACT_KEYS)  # templates may read any fact
        else:
            needed = set(keep)
            if self.get_option("default_groups"):
                needed.update(_GROUP_FACTS)
                if self.get_option("tag_groups"):
                    needed.add("tags")
            for option in ("hostnames", "ansible_host_preference"):
                kinds = [str(k) for k in self.get_option(option) or ()]
                needed.update("labels" if k.startswith("label:") else k for k in kinds)
        if not self.get_option("metadata_keys"):
            needed.discard("metadata")  # ssh keys and startup scripts never cross the wire
        return needed

    def _instance_fields(self, needed):
        """The partial-response selector for the ``needed`` facts, plus extra_fields."""
        fields = list(_BASE_FIELDS)
        for fact in sorted(needed):
            fields.extend(f for f in _FACT_FIELDS.get(fact, ()) if f not in fields)
        nic = [f for fact in sorted(needed) for f in _NIC_FIELDS.get(fact, ())]
        if nic:
            fields.append(f"networkInterfaces({','.join(dict.fromkeys(nic))})")
        fields.extend(str(f) for f in self.get_option("extra_fields") or [])
        return ",".join(fields)

    def _handle_failures(self, failed):
        if not failed:
            return
        skip = self.get_option("skip_failed_projects")
        for project, exc in failed.items():
            if not skip or exc.kind in _NEVER_SKIPPED:
                raise AnsibleError(f"gce inventory: {exc}")
            self.display.warning(f"gce inventory: skipping project '{project}': {exc}")

    # -- building hosts -------------------------------------------------------------------------
    @staticmethod
    def _facts(project, inst, needed, metadata_keys, mtus):
        """Compact host facts: derived names instead of URLs, and no key whose value is empty.

        Only the ``needed`` facts are worked out (plus name, id, project and zone, which host names
        and duplicate handling use): this runs once per instance.
        """
        zone = _base(inst.get("zone")) or ""
        name = inst.get("name")
        facts = {
            "name": name,
            # uint64 in the API (sent as a JSON string); an int is cheaper to store and dump.
            "id": int(inst["id"]) if inst.get("id") else None,
            "project": project,
            "zone": zone,
        }
        if "region" in needed:
            facts["region"] = zone.rsplit("-", 1)[0]
        if "machine_type" in needed or "machine_family" in needed:
            machine_type = _base(inst.get("machineType")) or ""
            facts["machine_type"] = machine_type
            facts["machine_family"] = machine_type.split("-", 1)[0]
        for fact, key in _RAW_FACTS:
            if fact in needed:
                facts[fact] = inst.get(key)
        if "internal_dns" in needed:
            facts["internal_dns"] = inst.get("hostname") or f"{name}.{zone}.c.{project}.internal"
        nics = inst.get("networkInterfaces")
        if nics:
            nic = nics[0]
            facts["private_ip"] = nic.get("networkIP")
            if "ipv6" in needed:
                facts["ipv6"] = nic.get("ipv6Address") or next(
                    (c.get("externalIpv6") for c in nic.get("ipv6AccessConfigs") or () if c.get("externalIpv6")),
                    None)
            if "public_ip" in needed:
                facts["public_ip"] = next(
                    (c.get("natIP") for c in nic.get("accessConfigs") or () if c.get("natIP")), None)
            facts["network"] = _base(nic.get("network"))
            facts["network_mtu"] = mtus.get(nic.get("network"))
            facts["subnetwork"] = _base(nic.get("subnetwork"))
            facts["nic_type"] = nic.get("nicType")
        # Defaults are left out (absent tier_1 means false, absent provisioning_model means STANDARD):
        # every stored value costs ansible-core time when it is set and again when it is dumped.
        if (inst.get("networkPerformanceConfig") or {}).get("totalEgressBandwidthTier") == "TIER_1":
            facts["tier_1"] = True
        model = (inst.get("scheduling") or {}).get("provisioningModel")
        if model and model != "STANDARD":
            facts["provisioning_model"] = model
        # Copies: _share() swaps values in place, and the raw rows may be written to the inventory cache.
        if inst.get("labels"):
            facts["labels"] = dict(inst["labels"])
        tags = (inst.get("tags") or {}).get("items")
        if tags:
            facts["tags"] = list(tags)
        if metadata_keys:
            items = (inst.get("metadata") or {}).get("items") or ()
            meta = {i.get("key"): i.get("value") for i in items if i.get("key") in metadata_keys}
            if meta:
                facts["metadata"] = meta
        accelerators = inst.get("guestAccelerators")
        if accelerators:
            facts["gpus"] = [{"type": _base(g.get("acceleratorType")), "count": int(g.get("acceleratorCount") or 0)}
                             for g in accelerators]
        if inst.get("resourcePolicies"):
            facts["placement_policies"] = [_base(p) for p in inst["resourcePolicies"]]
        if "service_accounts" in needed:
            facts["service_accounts"] = [a.get("email") for a in inst.get("serviceAccounts") or () if a.get("email")]
        return {k: v for k, v in facts.items() if v is not None and v != "" and v != []}

    @staticmethod
    def _pick(facts, preference):
        for kind in preference:
            value = (facts.get("labels") or {}).get(kind[6:]) if kind.startswith("label:") else facts.get(kind)
            if value:
                return value
        return None

    def _compile(self, option):
        expressions = self.get_option(option) or []
        if expressions and jmespath is None:
            raise AnsibleError(f"gce inventory: '{option}' needs the Python package jmespath: pip install jmespath")
        try:
            return [jmespath.compile(str(e)) for e in expressions]
        except jmespath.exceptions.ParseError as exc:
            raise AnsibleError(f"gce inventory: invalid JMESPath expression in '{option}': {exc}") from None

    def _select(self, rows):
        """Apply statuses, include and exclude on the raw instances."""
        statuses = {s.upper() for s in self.get_option("statuses") or []}
        include, exclude = self._compile("include"), self._compile("exclude")
        for project, inst in rows:
            if statuses and inst.get("status") not in statuses:
                continue
            if include and not any(e.search(inst) for e in include):
                continue
            if exclude and any(e.search(inst) for e in exclude):
                continue
            yield project, inst

    def _check_preferences(self):
        for option in ("hostnames", "ansible_host_preference"):
            for kind in self.get_option(option) or []:
                if kind not in _HOSTNAME_KINDS and not (kind.startswith("label:") and len(kind) > 6):
                    raise AnsibleError(
                        f"gce inventory: '{kind}' in '{option}' is not supported; use {', '.join(_HOSTNAME_KINDS)} "
                        "or label:KEY.")

    def _stored_keys(self):
        """The facts kept on each host (None: all of them), from hostvar_keys."""
        value, origin = self.get_option_and_origin("hostvar_keys")
        keys = [str(k) for k in value or []]
        if "all" in keys:
            return None
        if origin == "default" and list(self.get_option("hostnames") or ["name"]) != ["name"]:
            keys.append("name")  # inventory_hostname is no longer the instance name
        unknown = sorted(set(keys) - set(_FACT_KEYS))
        if unknown:
            raise AnsibleError(
                f"gce inventory: unknown key(s) {', '.join(unknown)} in 'hostvar_keys'; use any of "
                f"{', '.join(_FACT_KEYS)}, or [all].")
        return frozenset(keys)

    def _populate(self, fetched, needed):
        self._check_preferences()
        keep = self._stored_keys()
        rows, mtus = fetched["instances"], fetched["network_mtu"]
        metadata_keys = frozenset(self.get_option("metadata_keys") or ())
        hostnames = self.get_option("hostnames") or ["name"]
        host_pref = self.get_option("ansible_host_preference") or []
        records = []
        for project, inst in self._select(rows):
            facts = self._facts(project, inst, needed, metadata_keys, mtus)
            name = str(self._pick(facts, hostnames) or facts["name"])
            records.append((name, facts, self._pick(facts, host_pref)))
        records = self._resolve_duplicates(records)

        # A failure part way (a strict template, an interrupt) takes out what was added: ansible-core
        # would otherwise go on with the hosts added so far, a fleet silently cut short.
        hosts_before, groups_before = frozenset(self.inventory.hosts), frozenset(self.inventory.groups)
        try:
            self._add_hosts(records, keep, host_pref, set(groups_before))
        except BaseException:
            self._take_out(hosts_before, groups_before)
            raise

    def _add_hosts(self, records, keep, host_pref, known_groups):
        inventory = self.inventory
        var_name = self.get_option("hostvar_name")
        default_groups = self.get_option("default_groups")
        tag_groups = self.get_option("tag_groups")
        strict = self.get_option("strict")
        compose = self.get_option("compose")
        groups = self.get_option("groups")
        keyed = self.get_option("keyed_groups")
        interned = {}
        for name, facts, ansible_host in records:
            inventory.add_host(name)
            kept = facts if keep is None else {k: v for k, v in facts.items() if k in keep}
            missing = _share(kept, interned)
            inventory.set_variable(name, var_name, kept)
            stored = inventory.get_host(name).vars[var_name]
            if missing:
                _learn(stored, interned)
            if ansible_host:
                # the tagged copy of the same address stored in the facts: not tagged a second time
                inventory.set_variable(name, "ansible_host", self._pick(stored, host_pref) or ansible_host)
            if default_groups:
                for group in self._default_groups(facts, tag_groups):
                    if group not in known_groups:
                        inventory.add_group(group)
                        known_groups.add(group)
                    inventory.add_child(group, name)
            if compose or groups or keyed:
                # Every fact, stored or not (hostvar_keys); the host's own variables (inventory_file,
                # composed ones) come in too, but its stored subset of the facts must not hide the rest.
                hostvars = {var_name: facts}
                if ansible_host:
                    hostvars["ansible_host"] = ansible_host
                self._set_composite_vars(compose, hostvars, name, strict=strict)
                if groups or keyed:
                    hostvars = combine_vars(inventory.get_host(name).get_vars(), hostvars)
                    self._add_host_to_composed_groups(groups, hostvars, name, strict=strict, fetch_hostvars=False)
                    self._add_host_to_keyed_groups(keyed, hostvars, name, strict=strict, fetch_hostvars=False)

    def _take_out(self, hosts_before, groups_before):
        """Remove every host and group this parse added (hosts from other sources keep what they got)."""
        inventory = self.inventory
        for name in [n for n in inventory.hosts if n not in hosts_before]:
            inventory.remove_host(inventory.hosts[name])
        for name in [g for g in inventory.groups if g not in groups_before]:
            group = inventory.groups[name]
            for parent in [g for g in group.parent_groups if g.name in groups_before]:
                parent.child_groups.remove(group)
                parent.clear_hosts_cache()
            inventory.remove_group(group)

    def _resolve_duplicates(self, records):
        counts = {}
        for name, _facts, _host in records:
            counts[name] = counts.get(name, 0) + 1
        dupes = {n for n, c in counts.items() if c > 1}
        if not dupes:
            return records
        if self.get_option("duplicate_names") == "error":
            detail = "; ".join(
                f"{n}: " + ", ".join(f"{f['project']}/{f['zone']}" for nm, f, _h in records if nm == n)
                for n in sorted(dupes))
            raise AnsibleError(f"gce inventory: duplicate host names ({detail}). Set duplicate_names: qualify, or "
                               "choose other 'hostnames'.")
        records = [(f"{n}.{f['zone']}.{f['project']}" if n in dupes else n, f, h) for n, f, h in records]
        # Host names taken from labels or addresses can still collide inside one zone: the instance
        # name (unique per zone and project) then goes in too, and the instance id as a last resort.
        for extra in ("name", "id"):
            counts = {}
            for name, _facts, _host in records:
                counts[name] = counts.get(name, 0) + 1
            if max(counts.values()) == 1:
                break
            records = [(self._insert(n, f, f.get(extra)) if counts[n] > 1 else n, f, h) for n, f, h in records]
        return records

    @staticmethod
    def _insert(hostname, facts, value):
        """Put ``value`` before the trailing .<zone>.<project> of a qualified host name."""
        suffix = f".{facts['zone']}.{facts['project']}"
        return f"{hostname[:-len(suffix)]}.{value}{suffix}"

    @staticmethod
    def _default_groups(facts, tag_groups):
        out = [
            _group("project", facts["project"]),
            _group("region", facts["region"]),
            _group("zone", facts["zone"]),
            _group("status", str(facts.get("status", "")).lower()),
        ]
        if facts.get("machine_family"):
            out.append(_group("family", facts["machine_family"]))
        gpus = facts.get("gpus")
        if gpus:
            out.append("gpu")
            out.extend(_group("gpu", g["type"]) for g in gpus if g.get("type"))
        for key, value in (facts.get("labels") or {}).items():
            out.append(_group(key, value))
        if tag_groups:
            out.extend(_group("tag", t) for t in facts.get("tags") or ())
        # A label can name a group already made (label gpu=nvidia-l4 and the GPU type group
        # gpu_nvidia_l4): each add_child costs ansible-core time even when it changes nothing.
        return list(dict.fromkeys(out))

    # -- entry point ----------------------------------------------------------------------------
    def parse(self, inventory, loader, path, cache=True):
        """Read the configuration, fetch (or reuse the cache) and populate the inventory."""
        super().parse(inventory, loader, path)
        # Accept both the short and the collection name, whichever way the plugin was loaded.
        self._redirected_names = sorted({*(getattr(self, "_redirected_names", None) or []), "gce", self.NAME})
        self._read_config_data(path)
        self.templar.available_variables = self._vars or {}

        started = time.monotonic()
        # One cache entry per request shape: a cached listing made for other fields, projects or
        # filters would otherwise be served with facts silently missing.
        needed = self._needed_facts()
        fields = self._instance_fields(needed)
        request = json.dumps([fields, *(self.get_option(o) for o in _REQUEST_OPTIONS)],
                             sort_keys=True, default=str)
        cache_key = f"{self.get_cache_key(path)}_{hashlib.sha256(request.encode()).hexdigest()[:12]}"
        use_cache = self.get_option("cache")
        fetched = None
        if use_cache and cache:
            try:
                fetched = self._cache[cache_key]
            except KeyError:
                fetched = None
        from_cache = fetched is not None
        with _bulk_build():
            if fetched is None:
                fetched = self._fetch(fields, "network_mtu" in needed)
                if use_cache:
                    self._cache[cache_key] = fetched
            ready = time.monotonic()
            self._populate(fetched, needed)
        self.display.vvv(f"gce inventory: {len(fetched['instances'])} instances in "
                         f"{time.monotonic() - started:.2f}s ({'cache' if from_cache else 'API'} "
                         f"{ready - started:.2f}s, hosts and groups {time.monotonic() - ready:.2f}s)")
        # ansible-core keeps the exception of its JSON-then-YAML read of the config file alive in a
        # reference cycle whose traceback holds this frame; without this, the frame would keep the raw
        # listing alive until a full collection, and past _bulk_build's freeze, for the whole run.
        del fetched
