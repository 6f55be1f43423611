"""The review report as a person sees it: report.html rendered by Debian's headless Chromium (issue 29).

Chromium is driven by playwright with ``executable_path=/usr/bin/chromium``:
playwright never downloads a browser here, and the machine's network is
closed anyway. Every request other than the page itself is refused and
counted. Marked ``chromium``: ``make test`` leaves these to ``make
test-chromium``, which CI runs after installing the ``chromium`` package
(.ci/run); without /usr/bin/chromium they are skipped with the reason.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from conftest import REPO
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install chromium; .ci/run installs it and runs make test-chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (the dev extra: pip install -e '.[dev]')")

# As root, on a closed network: no sandbox, no GPU, nothing that calls home, a fresh profile per test
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DEMO_CHARTS = {"deletions-by-carrier", "deletions-by-user", "pending-by-age", "rejects-by-file", "retention-timeline",
               "nightly-runs", "reads-by-week"}


def render(page_path: Path, profile: Path, screenshot: Path) -> dict[str, object]:
    """Open the page in Chromium; return what a person would notice: console errors, blocked requests, each chart."""
    seen: dict[str, object] = {"console": [], "errors": [], "requests": [], "charts": {}}
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS, viewport={"width": 1280, "height": 900},
            offline=True,
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: seen["console"].append((m.type, m.text)))  # type: ignore[union-attr]
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))  # type: ignore[union-attr]

            def route(r: sync_api.Route) -> None:
                if r.request.url.startswith(("file://", "data:")):
                    r.continue_()
                else:
                    seen["requests"].append(r.request.url)  # type: ignore[union-attr]
                    r.abort()

            page.route("**/*", route)
            page.goto(page_path.as_uri(), wait_until="load")
            page.screenshot(path=str(screenshot), full_page=True)
            for img in page.query_selector_all("img[data-chart]"):
                name = img.get_attribute("data-chart")
                loaded = img.evaluate("i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0")
                img.scroll_into_view_if_needed()
                seen["charts"][name] = (loaded, img.screenshot())  # type: ignore[index]
            seen["text"] = page.inner_text("body")
        finally:
            context.close()
    return seen


def ink(png: bytes) -> tuple[float, int]:
    """The share of pixels that are not white, and how many colours the picture has."""
    with Image.open(io.BytesIO(png)) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 24) or []
        white = sum(n for n, c in colours if min(c) >= 250)
        return 1 - white / (rgb.width * rgb.height), len(colours)


@pytest.fixture
def demo(wh, tmp_path):
    """The demo warehouse (make demo): the nightly job over data/, then an officer's read and a refusal."""
    result = wh.cli("run", str(REPO / "jobs" / "nightly.toml"), "--inbox", str(REPO / "data"), "--as-of", "2026-05-15",
                    "--min-age-seconds", "0")
    assert result.exit_code == 3, result.stderr  # ee-2026-03-01.csv is over its reject limit on purpose
    wh.cli("deleted-calls", "list", "--limit", "3", "--format", "json", user="dpo", ok=True)
    assert wh.cli("deleted-calls", "list", user="analyst").exit_code == 4
    return wh


def test_the_demo_report_looks_right_in_chromium(demo, tmp_path):
    out = tmp_path / "report"
    result = demo.cli("report", "--out", str(out), "--months", "120", user="dpo")
    assert result.exit_code == 0, result.stderr
    screenshot = tmp_path / "report.png"
    seen = render(out / "report.html", tmp_path / "profile", screenshot)
    print(f"screenshot: {screenshot}")
    assert seen["errors"] == [] and [m for m in seen["console"] if m[0] in ("error", "warning")] == []  # type: ignore[union-attr]
    assert seen["requests"] == []
    charts = seen["charts"]
    assert set(charts) == DEMO_CHARTS  # type: ignore[arg-type]
    for name, (loaded, png) in charts.items():  # type: ignore[union-attr]
        share, colours = ink(png)
        assert loaded, f"{name} did not load"
        assert share > 0.03 and colours > 20, f"{name} looks blank: {share:.1%} ink, {colours} colours"
    with Image.open(screenshot) as im:
        assert im.width == 1280 and im.height > 4000
    text = str(seen["text"])
    for heading in ("Deletions per month", "Pending deletion requests", "Rejected records and files", "Retention and DR archives",
                    "Nightly runs", "Who read deleted calls"):
        assert heading in text
    assert "Oldest pending request:" in text and "1 refusal (analyst ×1)" in text


def test_an_empty_warehouse_reads_as_empty_in_chromium(wh, tmp_path):
    out = tmp_path / "report"
    assert wh.cli("report", "--out", str(out), user="dpo").exit_code == 0
    seen = render(out / "report.html", tmp_path / "profile", tmp_path / "empty.png")
    assert seen["errors"] == [] and [m for m in seen["console"] if m[0] == "error"] == []  # type: ignore[union-attr]
    assert seen["charts"] == {} and seen["requests"] == []
    text = str(seen["text"])
    assert "No call was deleted" in text and "No deletion request is waiting." in text and "Nobody read deleted calls" in text


def test_chromium_is_the_one_from_debian():
    version = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60).stdout
    assert version.startswith("Chromium "), version
