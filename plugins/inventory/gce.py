# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Google Compute Engine dynamic inventory for nearzero (``plugin: gce`` or ``nearzero.gcp.gce``)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gce
author: nearzero (@nearzero)
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
  - Needs ansible-core 2.19 or newer and refuses to run on older releases, which template values that come
    from the API. Every API value (names, labels, metadata) is marked untrusted explicitly, so it is never
    templated.
  - Group names made from API data (labels, accelerators, O(keyed_groups)) may not be one of the
    O(protected_groups) the playbooks target unless O(trusted_groups) names the source that may make it; any
    other source fails the inventory, naming the host, the label and the group.
  - With O(host_keys_file), the SSH host keys each instance published in its guest attributes (C(hostkeys/))
    are written to a known_hosts file that Ansible's ssh uses with C(StrictHostKeyChecking=yes).
  - Duplicate host names are never merged silently. By default every colliding host is renamed
    C(<hostname>.<zone>.<project>); O(duplicate_names=error) fails instead.
  - A source that fails part way (a O(strict) template on one host) takes out every host and group it had
    added, so a playbook never runs on a fleet cut short (ansible-core only warns about a failed source).
  - The configuration file name must end in C(gce.yml) or C(gce.yaml).
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
      - Base URL of the Compute Engine API (C(/compute/v1) is appended), for example a Private Service Connect
        endpoint. Templates are accepted, e.g. C("{{ lookup('env', 'COMPUTE_PSC_URL') }}").
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
      - Add C(service_accounts) where a play checks the instance's identity before it hands out a secret
        (C(nearzero_secret_identity) in C(nearzero.gcp.database)).
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
  protected_groups:
    description:
      - Group names (or shell patterns such as C(role_*)) that API data may not make unless O(trusted_groups)
        names the source. The default holds the groups nearzero's playbooks target.
      - A label whose key and value sanitise to one of these names (label C(role_trading=engine) makes
        C(role_trading_engine)), or a O(keyed_groups) entry producing one, fails the inventory with an error
        naming the host, the label and the group; nothing of this source is added.
      - Conditional O(groups) are not checked, since their names are written in this file, not taken from the API.
    type: list
    elements: str
    default: [role_*, gpu]
  trusted_groups:
    description:
      - "Maps a protected group name or pattern to the sources that may make it: C(label:<key>) (the default
        group of that label key), C(accelerators) (C(gpu) and C(gpu_<type>)), C(keyed_groups), C(project),
        C(region), C(zone), C(status), C(family) or C(tag)."
      - "The default lets only label C(role) make C(role_<value>) and only a GPU accelerator make C(gpu)
        (docs/TRUST_MODEL.md). Anyone with C(compute.instances.setLabels) can still set label C(role): plays that
        hand out secrets also check the instance's service account (C(nearzero_secret_identity))."
    type: dict
    default: {"role_*": ["label:role"], "gpu": ["accelerators"]}
  host_keys_file:
    description:
      - Write the SSH host keys each instance published in its guest attributes (C(getGuestAttributes),
        C(queryPath=hostkeys/); the guest agent publishes them when metadata C(enable-guest-attributes) is
        C(TRUE)) to this known_hosts file, one line per key naming the host and its C(ansible_host), and set
        C(ansible_ssh_common_args) on each host to
        C(-o UserKnownHostsFile=<file> -o StrictHostKeyChecking=yes), so ssh never trusts a key on first use.
      - One C(getGuestAttributes) call per host (needs C(compute.instances.getGuestAttributes)); a host that
        published no key gets a warning and no line, so ssh refuses it.
      - The file is replaced whole (through a temporary file) and is not cached with the listing.
    type: path
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
# Host keys pinned from the guest attributes Google publishes, and a label that may make a protected group
plugin: gce
projects: [trading-prod-us]
host_keys_file: ~/.ansible/gce_known_hosts
trusted_groups:
  role_*: [label:role]
  gpu: [accelerators]
  role_canary: [keyed_groups]
keyed_groups:
  - key: gce.labels.canary | default('') | ternary('canary', '')
    prefix: role

---
# Look at the result: the group tree, then one host's variables
#   ansible-inventory -i inventory/prod.gce.yml --graph
#   ansible-inventory -i inventory/prod.gce.yml --host engine-1
"""

import hashlib
import json
import os
import time
from typing import Any

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.release import __version__ as _CORE_VERSION
from ansible.utils.vars import combine_vars
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import client_from_options
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute import ComputeApi
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce import hostkeys
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.errors import ConfigError, GceInventoryError
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.facts import (
    Facts,
    build_facts,
    instance_fields,
    needed_facts,
    stored_keys,
)
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.groups import default_groups
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.hostnames import (
    HostRecord,
    check_preferences,
    pick,
    resolve_duplicates,
)
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.listing import Listing, ListingRequest, list_instances
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.memory import FROZEN as _FROZEN  # noqa: F401
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.memory import bulk_build as _bulk_build
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.memory import learn, share
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.rollback import all_or_nothing
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.selection import compile_expressions, select
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.trust import GroupGuard, check_core, untrusted

# _bulk_build and _FROZEN keep the names this module had before the collector handling moved to
# plugin_utils; code that resets the collector state between parses in one process (tests) uses them.

# Options that change what the API returns (part of the inventory cache key).
_REQUEST_OPTIONS = ("projects", "zones", "regions", "filter", "list_strategy", "api_endpoint")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Builds hosts and groups from Compute Engine instances.

    The work is done by plugin_utils/gce (listing, selection, facts, host names, groups, memory,
    rollback); this class reads the options, keeps the cache, adds hosts and groups through
    ansible-core's API and turns the exceptions of those modules into one AnsibleError.
    """

    NAME = "nearzero.gcp.gce"
    # Never trust templates from this plugin's data: labels and metadata come from the API.
    trusted_by_default = False

    def verify_file(self, path: str) -> bool:
        """Accept only files whose name ends in gce.yml or gce.yaml."""
        return super().verify_file(path) and path.endswith(("gce.yml", "gce.yaml"))

    # -- options ---------------------------------------------------------------------------
    def _templated(self, name: str) -> Any:
        """Return option ``name`` with templates from the configuration file rendered (vault, lookups).

        Only configuration values are templated; they come from the trusted inventory file.
        """
        value = self.get_option(name)
        if value is None:
            return None
        return self.templar.template(value)

    def _stored_keys(self) -> frozenset[str] | None:
        """The facts kept on each host (None: all of them), from hostvar_keys."""
        value, origin = self.get_option_and_origin("hostvar_keys")
        return stored_keys(value, origin == "default", self.get_option("hostnames") or ["name"])

    def _needed_facts(self) -> set[str]:
        """The facts this configuration uses: stored, grouped on, or picked for names and addresses."""
        return needed_facts(
            self._stored_keys(),
            templated=bool(self.get_option("compose") or self.get_option("groups") or self.get_option("keyed_groups")),
            default_groups=bool(self.get_option("default_groups")),
            tag_groups=bool(self.get_option("tag_groups")),
            preferences=[*(self.get_option("hostnames") or ()), *(self.get_option("ansible_host_preference") or ())],
            metadata_keys=self.get_option("metadata_keys") or (),
        )

    def _warn(self, message: str) -> None:
        """Show a warning of plugin_utils (their messages carry no prefix, like their exceptions)."""
        self.display.warning(f"gce inventory: {message}")

    # -- fetching -----------------------------------------------------------------------------
    def _compute_api(self, concurrency: int) -> ComputeApi:
        """A Compute API client with its token already fetched, so the listing threads share it."""
        # the credential and HTTP options as every module and lookup reads them, templated first
        client = client_from_options(self._templated, pool_size=concurrency)
        client.ensure_token()
        endpoint = self._templated("api_endpoint")
        if not endpoint or not str(endpoint).startswith(("http://", "https://")):
            raise ConfigError(
                f"api_endpoint is {endpoint!r}, not an http(s) URL. If it comes from a lookup such as "
                "lookup('env', 'SOME_VARIABLE'), set that variable in the environment of ansible-inventory, "
                "or remove api_endpoint to use Google's.")
        return ComputeApi(client, str(endpoint))

    def _fetch(self, fields: str, with_mtu: bool) -> tuple[ComputeApi, Listing]:
        """Fetch the instances (``fields`` of each) and, ``with_mtu``, the MTU of their networks (plain JSON).

        Returns the client too, for the host keys (host_keys_file).
        """
        concurrency = max(1, int(self.get_option("concurrency")))
        api = self._compute_api(concurrency)
        projects = [str(p) for p in self._templated("projects") or []]
        if not projects:
            raise ConfigError("'projects' is empty; list at least one project ID.")
        request = ListingRequest(
            projects=projects,
            fields=fields,
            zones=[str(z) for z in self._templated("zones") or []],
            regions=[str(r) for r in self._templated("regions") or []],
            filter=self._templated("filter"),
            strategy=self.get_option("list_strategy"),
            concurrency=concurrency,
            with_mtu=with_mtu,
            skip_failed_projects=bool(self.get_option("skip_failed_projects")),
            unreachable_zones=self.get_option("unreachable_zones"),
        )
        return api, list_instances(api, request, self._warn)

    # -- building hosts -------------------------------------------------------------------------
    def _populate(self, fetched: Listing, needed: set[str], api: ComputeApi | None) -> None:
        hostnames = self.get_option("hostnames") or ["name"]
        host_pref = self.get_option("ansible_host_preference") or []
        check_preferences({"hostnames": self.get_option("hostnames") or [], "ansible_host_preference": host_pref})
        keep = self._stored_keys()
        rows, mtus = fetched["instances"], fetched["network_mtu"]
        metadata_keys = frozenset(self.get_option("metadata_keys") or ())
        include = compile_expressions("include", self.get_option("include") or [])
        exclude = compile_expressions("exclude", self.get_option("exclude") or [])
        records: list[HostRecord] = []
        for project, inst in select(rows, self.get_option("statuses") or [], include, exclude):
            facts = build_facts(project, inst, needed, metadata_keys, mtus)
            name = str(pick(facts, hostnames) or facts["name"])
            records.append((name, facts, pick(facts, host_pref)))
        records = resolve_duplicates(records, self.get_option("duplicate_names"))
        guard = GroupGuard(self.get_option("protected_groups") or (), self.get_option("trusted_groups"))
        with all_or_nothing(self.inventory) as known_groups:
            self._add_hosts(records, keep, host_pref, known_groups, guard)
            if self.get_option("host_keys_file"):
                self._pin_host_keys(records, api)

    def _pin_host_keys(self, records: list[HostRecord], api: ComputeApi | None) -> None:
        """Write the published host keys of every host to host_keys_file and point each host's ssh at it."""
        # absolute: ssh reads the file from wherever Ansible runs
        path = os.path.abspath(str(self.get_option("host_keys_file")))
        if api is None:  # listing served from the cache: the keys are always read fresh
            api = self._compute_api(max(1, int(self.get_option("concurrency"))))
        targets = [(name, facts["project"], facts["zone"], facts["name"], address)
                   for name, facts, address in records]
        lines = hostkeys.fetch(api, targets, int(self.get_option("concurrency")), self._warn)
        hostkeys.write_known_hosts(path, lines)
        args = hostkeys.ssh_args(path)
        for name, _facts, _address in records:
            self.inventory.set_variable(name, "ansible_ssh_common_args", args)

    def _add_hosts(self, records: list[HostRecord], keep: frozenset[str] | None, host_pref: list[str],
                   known_groups: set[str], guard: GroupGuard) -> None:
        inventory = self.inventory
        var_name = self.get_option("hostvar_name")
        make_default_groups = self.get_option("default_groups")
        tag_groups = self.get_option("tag_groups")
        strict = self.get_option("strict")
        compose = self.get_option("compose")
        groups = self.get_option("groups")
        keyed = self.get_option("keyed_groups")
        interned: dict[Any, Any] = {}
        for name, raw, ansible_host in records:
            # explicit, whatever trusted_by_default and ansible-core's default say: never templated
            facts = untrusted(raw)
            inventory.add_host(name)
            kept: Facts = facts if keep is None else {k: v for k, v in facts.items() if k in keep}
            missing = share(kept, interned)
            inventory.set_variable(name, var_name, kept)
            stored = inventory.get_host(name).vars[var_name]
            if missing:
                learn(stored, interned)
            if ansible_host:
                # the tagged copy of the same address stored in the facts: not tagged a second time
                inventory.set_variable(name, "ansible_host", pick(stored, host_pref) or ansible_host)
            if make_default_groups:
                for group, source in default_groups(facts, tag_groups):
                    guard.check(group, source, name, facts)
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
                    if keyed:
                        host = inventory.get_host(name)
                        before = {g.name for g in host.groups}
                        self._add_host_to_keyed_groups(keyed, hostvars, name, strict=strict, fetch_hostvars=False)
                        for group in {g.name for g in host.groups} - before:
                            guard.check(group, "keyed_groups", name, facts)

    # -- entry point ----------------------------------------------------------------------------
    def parse(self, inventory: InventoryData, loader: DataLoader, path: str, cache: bool = True) -> None:
        """Read the configuration, fetch (or reuse the cache) and populate the inventory."""
        # First of all: older releases would template the API's values (labels, metadata).
        try:
            check_core(_CORE_VERSION)
        except GceInventoryError as exc:
            raise AnsibleError(f"gce inventory: {exc}") from None
        super().parse(inventory, loader, path)
        # Accept both the short and the collection name, whichever way the plugin was loaded.
        self._redirected_names = sorted({*(getattr(self, "_redirected_names", None) or []), "gce", self.NAME})
        self._read_config_data(path)
        self.templar.available_variables = self._vars or {}
        # The listing lives in _parse's frame, never in this one: ansible-core keeps the exception of
        # its JSON-then-YAML read of the config file alive in a reference cycle whose traceback holds
        # this frame, which would keep the raw listing alive until a full collection, and past
        # _bulk_build's freeze, for the whole run.
        try:
            self._parse(path, cache)
        except (GceInventoryError, GcpError) as exc:
            raise AnsibleError(f"gce inventory: {exc}") from None

    def _parse(self, path: str, cache: bool) -> None:
        started = time.monotonic()
        # One cache entry per request shape: a cached listing made for other fields, projects or
        # filters would otherwise be served with facts silently missing.
        needed = self._needed_facts()
        fields = instance_fields(needed, self.get_option("extra_fields") or [])
        request = json.dumps([fields, *(self.get_option(o) for o in _REQUEST_OPTIONS)],
                             sort_keys=True, default=str)
        cache_key = f"{self.get_cache_key(path)}_{hashlib.sha256(request.encode()).hexdigest()[:12]}"
        use_cache = self.get_option("cache")
        fetched = None
        api = None
        if use_cache and cache:
            try:
                fetched = self._cache[cache_key]
            except KeyError:
                fetched = None
        from_cache = fetched is not None
        with _bulk_build():
            if fetched is None:
                api, fetched = self._fetch(fields, "network_mtu" in needed)
                if use_cache:
                    self._cache[cache_key] = fetched
            ready = time.monotonic()
            self._populate(fetched, needed, api)
        self.display.vvv(f"gce inventory: {len(fetched['instances'])} instances in "
                         f"{time.monotonic() - started:.2f}s ({'cache' if from_cache else 'API'} "
                         f"{ready - started:.2f}s, hosts and groups {time.monotonic() - ready:.2f}s)")
