"""nearzero.gcp.report_plot: the PNG is an image of the asked size with the figures drawn in it.

The checks open the file with Pillow and count the pixels of each colour the module draws with
(matplotlib's tab: palette): bars, percentile lines, the shaded RTO.
"""

from PIL import Image  # comes with matplotlib (requirements.txt)

BLUE, GREEN, RED = (31, 119, 180), (44, 160, 44), (214, 39, 40)


def _count(img, rgb, tolerance=12):
    """Pixels within ``tolerance`` of ``rgb`` on every channel."""
    r0, g0, b0 = rgb
    return sum(1 for r, g, b in img.convert("RGB").get_flattened_data()
               if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance)


HIST = {"kind": "histogram", "title": "engine-us-1", "width_px": 800, "height_px": 300,
        "panels": [{"label": "database round trip", "buckets": [[100, 10], [200, 900], [500, 80], [1000, 3]],
                    "markers": {"p50": 180, "p99": 420}},
                   {"label": "network (sockperf)", "markers": {"p50": 35, "p99": 60}}]}


def test_histogram_png_has_the_size_the_bars_and_the_percentile_lines(tmp_path, run_module):
    path = tmp_path / "h.png"
    failed, out = run_module("report_plot", dict(HIST, path=str(path)))
    assert not failed and out["changed"] and (out["width"], out["height"]) == (800, 600)
    img = Image.open(path)
    assert img.format == "PNG" and img.size == (800, 600)
    assert _count(img, BLUE) > 2000  # the bars
    assert _count(img, GREEN) > 100 and _count(img, RED) > 100  # p50 and p99 lines


def test_same_figures_same_bytes_so_a_rerun_changes_nothing(tmp_path, run_module):
    path = tmp_path / "h.png"
    run_module("report_plot", dict(HIST, path=str(path)))
    failed, out = run_module("report_plot", dict(HIST, path=str(path)))
    assert not failed and not out["changed"]
    changed = dict(HIST, path=str(path), panels=[dict(HIST["panels"][0], markers={"p50": 150, "p99": 900})])
    failed, out = run_module("report_plot", changed, check=True)
    assert not failed and out["changed"]
    assert Image.open(path).size == (800, 600)  # check mode left the old file


def test_check_mode_writes_nothing(tmp_path, run_module):
    path = tmp_path / "none.png"
    failed, out = run_module("report_plot", dict(HIST, path=str(path)), check=True)
    assert not failed and out["changed"] and not path.exists()


def test_timeline_shades_the_rto_and_draws_the_lag(tmp_path, run_module):
    path = tmp_path / "t.png"
    args = {"path": str(path), "kind": "timeline", "title": "DR drill", "width_px": 1000, "height_px": 350,
            "series": [{"label": "replica lag", "unit": "s", "points": [[0, 0.2], [5, 0.3], [10, 4.0], [15, 0.0]]}],
            "events": [{"t": 8, "label": "region lost"}, {"t": 20, "label": "engines ready"}],
            "shade": {"start": 8, "end": 20, "label": "RTO 12 s"}}
    failed, out = run_module("report_plot", args)
    assert not failed and out["height"] == 350
    img = Image.open(path).convert("RGB")
    assert img.size == (1000, 350)
    assert _count(img, BLUE) > 300
    # the shade is red at 15% over white
    assert _count(img, (247, 222, 223), tolerance=8) > 5000


def test_bad_shape_and_size_are_refused_with_the_fix(tmp_path, run_module):
    failed, out = run_module("report_plot", {"path": str(tmp_path / "x.png"), "kind": "histogram",
                                             "panels": [{"buckets": [["a", 1]]}]})
    assert failed and "documented shape" in out["msg"] and "ansible-doc" in out["msg"]
    failed, out = run_module("report_plot", {"path": str(tmp_path / "x.png"), "kind": "timeline", "width_px": 50})
    assert failed and "width_px (50)" in out["msg"]
