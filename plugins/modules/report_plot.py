#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Draw a report's figures as a PNG: latency histograms with their percentiles, or a drill's timeline."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: report_plot
short_description: Write a PNG plot of latency histograms or of a drill's timeline
version_added: "0.1.0"
description:
  - People read a histogram or a timeline faster than a table. This module draws the figures the latency report
    and the DR drill measured into a PNG file on the host it runs on (usually the controller, with
    C(delegate_to) localhost).
  - V(histogram) draws one panel per measure, latency in microseconds on a log scale, with the p50 and p99 (and
    any other given percentile) marked as vertical lines.
  - V(timeline) draws one or more series over seconds since the drill started (for example the replica's lag),
    with the drill's events as vertical lines and the recovery time (RTO) shaded.
  - Needs matplotlib on the host that runs it (C(pip install matplotlib)); the module says so when it is missing.
  - The PNG is drawn without a timestamp, so the same figures give the same bytes and a re-run reports no change.
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Draws in memory and reports whether the file would change; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description: The PNG file to write.
    type: path
    required: true
  kind:
    description: V(histogram) or V(timeline).
    type: str
    choices: [histogram, timeline]
    required: true
  title:
    description: The figure's title.
    type: str
    default: ""
  panels:
    description:
      - For V(histogram), one panel per measure.
      - C(label) names it; C(buckets) is a list of C([upper bound in microseconds, count]) pairs; C(markers) maps
        a percentile name (C(p50), C(p99), ...) to its value in microseconds. A panel without buckets shows its
        markers only (a tool that reports percentiles, not a histogram).
    type: list
    elements: dict
    default: []
  series:
    description:
      - For V(timeline), each C({label, unit, points}) where C(points) is a list of C([seconds, value]).
    type: list
    elements: dict
    default: []
  events:
    description: For V(timeline), C({t, label}) drawn as vertical lines.
    type: list
    elements: dict
    default: []
  shade:
    description: For V(timeline), C({start, end, label}) shaded, for example the RTO from the loss to recovery.
    type: dict
  width_px:
    description: Width of the PNG in pixels.
    type: int
    default: 1200
  height_px:
    description: Height of the PNG in pixels (for a histogram, per panel).
    type: int
    default: 400
"""

EXAMPLES = r"""
- name: Plot the latency histograms
  nearzero.gcp.report_plot:
    path: /tmp/latency/engine-us-1.png
    kind: histogram
    title: engine-us-1
    panels:
      - label: database round trip
        buckets: [[100, 12], [200, 950], [500, 37], [1000, 1]]
        markers: {p50: 180, p99: 420}
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The PNG written.
  returned: always
  type: str
width:
  description: Width in pixels.
  returned: always
  type: int
height:
  description: Height in pixels.
  returned: always
  type: int
"""

import io
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

DPI = 100
MARKER_COLOURS = {"p50": "tab:green", "p99": "tab:red", "p99.9": "tab:purple"}


def _figure(plt, width_px: int, height_px: int, rows: int):
    return plt.subplots(rows, 1, figsize=(width_px / DPI, height_px * rows / DPI), dpi=DPI, squeeze=False)


def draw_histogram(plt, title: str, panels: list[dict], width_px: int, height_px: int):
    """One panel per measure; bars span [previous bound, bound) so log-spaced buckets keep their width."""
    fig, axes = _figure(plt, width_px, height_px, max(1, len(panels)))
    for row, panel in enumerate(panels or [{}]):
        ax = axes[row][0]
        buckets = sorted((float(b), float(c)) for b, c in panel.get("buckets", []))
        lower = 0.5 * buckets[0][0] if buckets else 1.0
        for bound, count in buckets:
            ax.bar(lower, count, width=bound - lower, align="edge", color="tab:blue", edgecolor="none")
            lower = bound
        for name, value in sorted((panel.get("markers") or {}).items()):
            if isinstance(value, (int, float)) and value > 0:
                ax.axvline(value, color=MARKER_COLOURS.get(name, "tab:orange"), linewidth=2,
                           label=f"{name} {value:g} us")
        ax.set_xscale("log")
        ax.set_xlabel("microseconds")
        ax.set_ylabel("samples")
        ax.set_title(panel.get("label", ""))
        if panel.get("markers"):
            ax.legend(loc="upper right")
    fig.suptitle(title)
    return fig


def draw_timeline(plt, title: str, series: list[dict], events: list[dict], shade: dict | None,
                  width_px: int, height_px: int):
    """Series over time on one axis each (their units differ), events as lines, the RTO shaded."""
    fig, axes = _figure(plt, width_px, height_px, max(1, len(series)))
    for row, one in enumerate(series or [{}]):
        ax = axes[row][0]
        points = sorted((float(t), float(v)) for t, v in one.get("points", []))
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], color="tab:blue", linewidth=2,
                    marker="o", markersize=3)
        if shade:
            ax.axvspan(float(shade["start"]), float(shade["end"]), color="tab:red", alpha=0.15,
                       label=shade.get("label", ""))
        for event in events:
            ax.axvline(float(event["t"]), color="tab:gray", linestyle="--", linewidth=1)
            ax.annotate(str(event.get("label", "")), (float(event["t"]), 1), xycoords=("data", "axes fraction"),
                        rotation=90, va="top", ha="right", fontsize=8)
        ax.set_xlabel("seconds since the drill started")
        ax.set_ylabel(f"{one.get('label', '')} ({one.get('unit', '')})")
        if shade and shade.get("label"):
            ax.legend(loc="upper right")
    fig.suptitle(title)
    return fig


def render(params: dict) -> tuple[bytes, int, int]:
    """The PNG's bytes and size in pixels; raises ImportError when matplotlib is missing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if params["kind"] == "histogram":
        fig = draw_histogram(plt, params["title"], params["panels"], params["width_px"], params["height_px"])
    else:
        fig = draw_timeline(plt, params["title"], params["series"], params["events"], params["shade"],
                            params["width_px"], params["height_px"])
    out = io.BytesIO()
    # No Software/date metadata: the same figures give the same bytes, so a re-run changes nothing.
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    width, height = fig.canvas.get_width_height()
    plt.close(fig)
    return out.getvalue(), width, height


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "kind": {"type": "str", "choices": ["histogram", "timeline"], "required": True},
            "title": {"type": "str", "default": ""},
            "panels": {"type": "list", "elements": "dict", "default": []},
            "series": {"type": "list", "elements": "dict", "default": []},
            "events": {"type": "list", "elements": "dict", "default": []},
            "shade": {"type": "dict"},
            "width_px": {"type": "int", "default": 1200},
            "height_px": {"type": "int", "default": 400},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not 200 <= params["width_px"] <= 8000 or not 100 <= params["height_px"] <= 4000:
        module.fail_json(msg=f"width_px ({params['width_px']}) must be 200..8000 and height_px "
                             f"({params['height_px']}) 100..4000. Fix: pick a size a screen can show.")
    try:
        png, width, height = render(params)
    except ImportError as exc:
        module.fail_json(msg=f"report_plot needs matplotlib on the host that draws ({exc}). Fix: pip install "
                             "matplotlib in the controller's Python (or turn the plot off).")
    except (KeyError, TypeError, ValueError) as exc:
        module.fail_json(msg=f"The {params['kind']} figures are not in the documented shape ({exc!r}). Fix: see "
                             "ansible-doc nearzero.gcp.report_plot for panels/series/events.")
    path = params["path"]
    try:
        with open(path, "rb") as fh:
            changed = fh.read() != png
    except FileNotFoundError:
        changed = True
    if changed and not module.check_mode:
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".report_plot.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(png)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    module.exit_json(changed=changed, path=path, width=width, height=height)


if __name__ == "__main__":
    main()
