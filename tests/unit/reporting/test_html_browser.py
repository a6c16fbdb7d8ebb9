"""index.html in a real browser engine: headless Chromium renders the tables, images and script;
Node runs the sorting script against a minimal DOM. Each skips when its binary is absent."""
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from support.synthetic import make_run

from harness.reporting.publish import publish


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    rows = publish([make_run(root)], root / "pub", n_resamples=50)
    return root / "pub" / "index.html", rows


def _chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None and os.environ.get("HARNESS_REQUIRE_BROWSER"):
        pytest.fail("HARNESS_REQUIRE_BROWSER is set (CI) but there is no chromium on PATH: `make setup` installs "
                    "Debian's package as root")
    if binary is None:
        pytest.skip("no chromium or chromium-browser on PATH; the headless render check needs one")
    return binary


def test_chromium_renders_rows_plots_and_runs_the_script(page, tmp_path):
    index, rows = page
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", index.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert dom.count('data-sortable="ready"') == 2            # the script ran on both tables
    # one leaderboard table per task, every row of the leaderboard in one of them (the comparison
    # tables beside them hold the paired differences, not rows)
    boards = re.findall(r'<table class="leaderboard sortable".*?</table>', dom, re.S)
    body_rows = [tr for t in boards for tr in re.findall(r"<tr><td.*?</tr>", t)]
    assert len(boards) == len({r["task"] for r in rows}) and len(body_rows) == len(rows)
    for r in rows:
        assert any(f">{r['method']}</td>" in tr and f">{r['n']}</td>" in tr for tr in body_rows)
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', dom)) == 4
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", "--window-size=1200,2000", index.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000


class _Tables(HTMLParser):
    """The header types and each row's data-sort values of every table."""
    def __init__(self):
        super().__init__()
        self.tables = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "sortable" not in a.get("class", ""):
            self.skip = True
        elif tag == "table":
            self.skip = False
            self.tables.append({"types": [], "rows": []})
        elif getattr(self, "skip", False):
            return
        elif tag == "th":
            self.tables[-1]["types"].append(a["data-type"])
        elif tag == "tr" and self.tables[-1]["types"]:
            self.tables[-1]["rows"].append([])
        elif tag == "td":
            self.tables[-1]["rows"][-1].append(a["data-sort"])


# A DOM just large enough for the sorting script: header cells that take a click listener,
# a tbody whose appendChild moves a row to the end, a document with one table.
_NODE = r"""
const [script, spec] = [process.argv[1], JSON.parse(process.argv[2])];
const attrs = () => { const a = {}; return {getAttribute: k => (k in a ? a[k] : null),
  setAttribute: (k, v) => { a[k] = String(v); }, removeAttribute: k => { delete a[k]; }}; };
const ths = spec.types.map(t => Object.assign(attrs(), {dataset: {type: t},
  addEventListener(ev, fn) { this.click = fn; }}));
const rows = spec.rows.map(vals => ({vals, cells: vals.map(v => ({getAttribute: k => v}))}));
const body = {rows, appendChild(r) { this.rows.splice(this.rows.indexOf(r), 1); this.rows.push(r); }};
const table = Object.assign(attrs(), {tHead: {rows: [{cells: ths}]}, tBodies: [body]});
new Function("document", script)({querySelectorAll: () => [table]});
const out = spec.clicks.map(col => { ths[col].click();
  return {order: body.rows.map(r => r.vals[spec.report]), sort: ths[col].getAttribute("aria-sort")}; });
console.log(JSON.stringify({ready: table.getAttribute("data-sortable"), out}));
"""


def _sort(script: str, spec: dict) -> dict:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("no node on PATH; the sorting-script check needs one")
    res = subprocess.run([node, "-e", _NODE, script, json.dumps(spec)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_clicking_a_header_sorts_by_the_raw_value(page):
    index, rows = page
    text = index.read_text()
    script = re.search(r"<script>(.*?)</script>", text, re.S).group(1)
    parser = _Tables()
    parser.feed(text)
    table = parser.tables[0]
    ths_col, method_col = 6, 1
    res = _sort(script, {**table, "clicks": [ths_col, ths_col, method_col], "report": method_col})
    assert res["ready"] == "ready"
    task_rows = [r for r in rows if r["task"] == "triviaqa"]
    by_ths = [r["method"] for r in sorted(task_rows, key=lambda r: r["ths"])]
    assert res["out"][0] == {"order": by_ths, "sort": "ascending"}
    assert res["out"][1] == {"order": by_ths[::-1], "sort": "descending"}
    assert res["out"][2]["order"] == sorted(r["method"] for r in task_rows)


def test_undefined_values_stay_last_and_numbers_sort_numerically(page):
    index, _ = page
    script = re.search(r"<script>(.*?)</script>", index.read_text(), re.S).group(1)
    spec = {"types": ["text", "number"], "rows": [["a", "10"], ["b", ""], ["c", "9"], ["d", "-1"]],
            "clicks": [1, 1], "report": 0}
    up, down = _sort(script, spec)["out"]
    assert up["order"] == ["d", "c", "a", "b"] and down["order"] == ["a", "c", "d", "b"]


def test_the_leaderboard_fits_a_1400_px_window(page, tmp_path):
    """Every column of the main table (AP, shortfall, flags included) is visible at 1,400 px without
    horizontal scrolling, and no interval wraps onto a third line."""
    index, _ = page
    probe = tmp_path / "probe.html"
    probe.write_text(index.read_text().replace("</body>", """<script>
const boards = [...document.querySelectorAll('table.leaderboard')];
const right = Math.max(...boards.map(t => t.getBoundingClientRect().right));
const cells = [...document.querySelectorAll('table.leaderboard td')];
const lines = Math.max(...cells.map(td => Math.floor((td.getBoundingClientRect().height - 8) /
                                                    (1.15 * parseFloat(getComputedStyle(td).fontSize)))));
document.body.setAttribute('data-probe', JSON.stringify({right: right, width: window.innerWidth, lines: lines}));
</script></body>"""))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1400,1000"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    found = re.search(r"data-probe=\"([^\"]+)\"", dom)
    assert found, dom[-2000:]
    probe_values = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe_values["right"] <= probe_values["width"], probe_values
    assert probe_values["lines"] <= 2, probe_values
