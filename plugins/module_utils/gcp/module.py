"""``AnsibleGcpModule``: an AnsibleModule that takes the GCP options and hands out a ready client.

Every module that talks to Google builds on it, so none re-lists the credential options, their
environment fallbacks or their ``no_log``: the module passes only its own options, and the ones of
``arguments.gcp_argument_spec()`` (documented by the doc fragment ``nearzero.gcp.gcp_auth.modules``,
set for the whole ``group/nearzero.gcp.gcp`` action group by ``module_defaults``) are merged in.
AnsibleModule still refuses any option neither spec names, so a misspelt credential option fails
the task instead of silently selecting another identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.arguments import (
    GCP_OPTIONS,
    ArgumentSpec,
    gcp_argument_spec,
)
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import GcpClient, client_from_options
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError


class AnsibleGcpModule(AnsibleModule):
    """AnsibleModule with the nearzero.gcp.gcp_auth options merged into ``argument_spec``."""

    def __init__(self, argument_spec: ArgumentSpec, **kwargs: Any) -> None:
        clash = sorted(set(argument_spec) & set(GCP_OPTIONS))
        if clash:
            # a module redefining a shared option would silently drift from the doc fragment
            raise ValueError(f"argument_spec redefines the shared GCP option(s) {', '.join(clash)}")
        super().__init__(argument_spec={**gcp_argument_spec(), **argument_spec}, **kwargs)

    def client(self, scopes: Sequence[str] | None = None) -> GcpClient:
        """The shared client for this task's credential; raises GcpError (use ``fail_gcp``)."""
        return client_from_options(self.params.get, scopes=scopes)

    def fail_gcp(self, exc: GcpError, **result: Any) -> NoReturn:
        """Fail the task with the GcpError's message (it names the project and the fix) and its kind."""
        self.fail_json(msg=str(exc), kind=exc.kind, status=exc.status, **result)
