"""dev/tools/inventory_graph.py renders a real gce inventory (from the emulator) to SVG with Graphviz."""

import subprocess
import sys
import xml.etree.ElementTree as ET

from tests.unit.plugins.gce_helpers import ROOT, ansible_inventory, instance, write_config

TOOL = ROOT / "dev" / "tools" / "inventory_graph.py"


def test_renders_small_inventory_to_svg(emulator, sa_key_file, tmp_path):
    emulator.add_project("nz-lab", zones=["us-east4-a"])
    emulator.add_instances("nz-lab", [
        instance("nz-lab", "us-east4-a", f"engine-{i}", ip=f"10.0.0.{i + 2}", labels={"role": "trading-engine"},
                 gpus=[{"type": "nvidia-h100-80gb", "count": 1}] if i == 0 else ())
        for i in range(3)
    ] + [instance("nz-lab", "us-east4-a", f'db-"{i}', ip=f"10.0.1.{i + 2}", labels={"role": "database"})
         for i in range(7)])
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=["nz-lab"])
    listing = tmp_path / "inv.json"
    listing.write_text(ansible_inventory(config).stdout)
    svg = tmp_path / "inv.svg"
    proc = subprocess.run([sys.executable, str(TOOL), str(listing), "-o", str(svg), "--max-hosts", "5"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(svg).getroot()  # noqa: S314 - our own output
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "role_trading_engine" in texts and "role_database" in texts
    assert "3 hosts" in texts and "7 hosts" in texts and "10 hosts" in texts  # all counts descendants
    assert "engine-1" in texts  # small group: hosts listed
    assert 'db-"3' not in texts  # 7 hosts > --max-hosts: only the count
    assert "1 host" in texts  # gpu group


def test_dot_output_and_bad_input(tmp_path):
    listing = tmp_path / "inv.json"
    listing.write_text('{"all": {"children": ["ungrouped", "g"]}, "g": {"hosts": ["a\\"b"]}, "_meta": {}}')
    dot = tmp_path / "inv.dot"
    subprocess.run([sys.executable, str(TOOL), str(listing), "-o", str(dot)], check=True)
    text = dot.read_text()
    assert '"g:all" -> "g:g"' in text and '"h:a\\"b"' in text
    listing.write_text("not json")
    proc = subprocess.run([sys.executable, str(TOOL), str(listing), "-o", str(dot)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode != 0 and "not ansible-inventory --list JSON" in proc.stderr
