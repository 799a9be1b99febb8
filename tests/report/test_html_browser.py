"""The HTML report in a real browser (headless Chromium, Debian's ``chromium``): it loads
with no console error and no broken image, and the table, the figures and every cell's
link to its run are there. A screenshot at phone width is taken and checked."""

from __future__ import annotations

import pathlib
import re
import shutil
import struct
import subprocess

import pytest

from replikv import schemes
from replikv.report.claims import find, run_claims
from replikv.report.comparison import Comparison, compare
from replikv.report.figures import draw_figures
from replikv.report.html import render

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"]
# test harness only: after load, mark how many images failed to decode (the page itself has no script)
IMAGE_PROBE = ('<script>addEventListener("load",()=>{const bad=[...document.images].filter(i=>!i.complete'
               '||i.naturalWidth===0).length;document.body.setAttribute("data-broken-images",String(bad));})</script>')

pytestmark = pytest.mark.skipif(not pathlib.Path(CHROMIUM).exists(),
                                reason="chromium is not installed (scripts/test.sh installs it)")


def _chromium(args: list[str], tmp: pathlib.Path) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, Comparison, int]:
    comparison = compare("pb-async,pb-sync,raft", seeds=1, workers=2)
    figures = draw_figures(comparison)
    verdicts = run_claims([find("stale-leader-fenced")], [schemes.get_spec("raft")], 1, workers=1)
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render(comparison, figures, verdicts, {"stale-leader-fenced": "fenced"}), encoding="utf-8")
    return path, comparison, len(figures)


def test_console_errors_are_detected(tmp_path: pathlib.Path) -> None:
    # the check below must be able to fail: a page that logs an error and has a broken image
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
                    '<script>console.error("boom")</script>' + IMAGE_PROBE + "</body></html>")
    result = _chromium(["--virtual-time-budget=5000", "--dump-dom", page.as_uri()], tmp_path)
    assert any('"boom"' in line for line in _console(result.stderr))
    assert 'data-broken-images="1"' in result.stdout


def test_report_renders_with_table_figures_links_and_no_console_error(report, tmp_path: pathlib.Path) -> None:
    path, comparison, figure_count = report
    probed = tmp_path / "probed.html"
    probed.write_text(path.read_text(encoding="utf-8").replace("</body>", IMAGE_PROBE + "</body>"), encoding="utf-8")
    result = _chromium(["--virtual-time-budget=5000", "--dump-dom", probed.as_uri()], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert _console(result.stderr) == []
    assert 'data-broken-images="0"' in dom
    # the table: one row per scheme, every cell filled
    table = re.search(r'<table id="comparison">(.*?)</table>', dom, re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    assert len(rows) == 1 + len(comparison.specs)
    for row in rows[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert all(re.sub(r"<[^>]+>", "", c).strip() for c in cells), row
    # the figures, inline; nothing fetched from the network
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom)) == figure_count >= 4
    assert not re.search(r'(src|href)="(https?:)?//', dom)
    # every link lands on an element of the page, and each run shows its reproduce line
    targets = set(re.findall(r'id="([^"]+)"', dom))
    links = re.findall(r'href="#([^"]+)"', dom)
    assert links and set(links) <= targets
    assert "replikv sim --protocol raft --scenario primary-crash" in dom
    assert 'id="claim-stale-leader-fenced"' in dom


def test_screenshot_at_phone_width(report, tmp_path: pathlib.Path) -> None:
    path, _, _ = report
    shot = tmp_path / "report.png"
    result = _chromium(["--window-size=390,1800", "--hide-scrollbars", f"--screenshot={shot}", path.as_uri()],
                       tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console(result.stderr) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (390, 1800)
    assert len(data) > 20_000  # text, table and a figure, not a blank page
