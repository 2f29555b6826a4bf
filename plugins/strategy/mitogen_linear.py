# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strategy plugin mitogen_linear: Mitogen's executor for the linear strategy, opt-in.

Mitogen keeps one Python interpreter per host (and one per become user) alive for the whole run
and runs modules inside it, so a task no longer pays for an SSH exec, a Python start and the
compilation of the module's libraries on the host. On the lab that halves a no-op run of
site.yml (docs/BENCHMARKS.md).

It is not the default in ansible.cfg: ansible-core 2.19 deprecates strategy plugins from outside
ansible.builtin (a warning on every run, no compatibility promise), so production changes run on
ansible-core's own executor unless an operator asks for this one (docs/ANSIBLE_CFG.md).

This file re-exports the class from the pinned ``mitogen`` package, imported under its real
module name, so the collection's plugin path finds it without a path into a virtual environment.
Without the package it still imports (ansible-doc and ansible-test load every plugin) and puts a
class in its place whose construction stops the run with the fix.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_linear
short_description: The linear strategy on Mitogen's connection and executor (opt-in)
description:
  - Runs tasks like P(ansible.builtin.linear#strategy) (every host finishes a task before the next starts), with
    Mitogen's connection multiplexer and in-process module execution instead of one SSH exec and one
    Python start per task.
  - Select it for one run with C(ANSIBLE_STRATEGY=mitogen_linear), or with C(strategy) on a play.
  - Needs the Python package C(mitogen) (pinned in the collection's C(meta/ee-requirements.txt)) on the
    controller; nothing on the hosts.
notes:
  - ansible-core 2.19 prints a deprecation warning for every strategy plugin outside ansible.builtin; that is why
    this one is opt-in.
author:
  - nearzero (@nearzero)
"""

from ansible.errors import AnsibleError
from ansible.plugins.strategy import StrategyBase

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except ImportError as exc:
    # Importing this file must work without mitogen (ansible-doc, ansible-test sanity, a controller
    # that never selects the strategy); only choosing the strategy needs the package, so that is
    # where the error is raised, naming the fix.
    _MITOGEN_IMPORT_ERROR = str(exc)

    class StrategyModule(StrategyBase):  # type: ignore[no-redef]
        """Stands in for Mitogen's strategy when the package is missing: selecting it stops the run."""

        def __init__(self, *args, **kwargs):  # pylint: disable=super-init-not-called
            raise AnsibleError(
                "strategy mitogen_linear needs the Python package mitogen on the controller: "
                "pip install mitogen (the version pinned in the collection's meta/ee-requirements.txt), "
                "or unset ANSIBLE_STRATEGY to use ansible-core's linear strategy "
                f"({_MITOGEN_IMPORT_ERROR})."
            )


__all__ = ["StrategyModule"]
