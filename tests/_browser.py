"""`greenknobs dashboard` in headless Chromium: the real command on a free port, and a CDP client that opens the
study's page, waits until greenknobs' three pushed figures, optuna-dashboard's Pareto-front chart and its Best Trials
card are drawn, and reads back what the page shows (and a PNG of it).

Used by tests/search/test_dashboard*.py and by the screenshot tool `python -m benchmarks.dashboard_screenshot`.
Needs Chromium (Debian: `apt-get install chromium`; elsewhere set GREENKNOBS_CHROMIUM to a Chrome/Chromium binary)
and the `websocket-client` package (in greenknobs' `test` extra). Chromium is driven over the DevTools protocol
(CDP), not with a fixed sleep: the page is a React app that fetches the study after it loads, so a snapshot taken at
"load" would show an empty page.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIGURE_IDS = ("greenknobs-pareto", "greenknobs-hypervolume", "greenknobs-phase-energy")  # analysis/_dashboard.FIGURES
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars", "--remote-debugging-port=0",
)


NO_CHROMIUM = "no Chromium found: apt-get install chromium, or set GREENKNOBS_CHROMIUM to a Chrome/Chromium binary"


class BrowserError(RuntimeError):
    """Chromium or the dashboard did not do what was asked; the message says what and where to look."""


def find_chromium() -> str | None:
    """GREENKNOBS_CHROMIUM, else the first Chromium/Chrome on PATH; None when there is none."""
    explicit = os.environ.get("GREENKNOBS_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() and os.access(explicit, os.X_OK) else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Terminate a process this module started; kill it if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def get_json(url: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


# -- the dashboard, as people start it ----------------------------------------------------------------------------
@contextmanager
def dashboard(study_file: str | Path, *, storage: str | None = None, study_name: str | None = None,
              push: bool = True, log: Path | None = None, timeout: float = 120) -> Iterator[str]:
    """`python -m greenknobs dashboard` as a subprocess on 127.0.0.1 and a free port; yields its base URL once its
    API answers, and stops it afterwards. Its output goes to `log` (a temporary file when None)."""
    port = free_port()
    args = [sys.executable, "-m", "greenknobs", "dashboard", str(study_file), "--port", str(port)]
    args += ["--storage", storage] if storage else []
    args += ["--study-name", study_name] if study_name else []
    args += [] if push else ["--no-push"]
    log = log or Path(tempfile.mkstemp(prefix="greenknobs-dashboard-", suffix=".log")[1])
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise BrowserError(f"`greenknobs dashboard` exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                get_json(f"{base}/api/meta", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BrowserError(f"`greenknobs dashboard` not answering after {timeout:.0f} s: "
                                          f"{log.read_text()[-2000:]}") from None
                time.sleep(0.3)
        yield base
    finally:
        stop(proc)


def study_page(base: str, study_name: str) -> tuple[int, str]:
    """(study id, URL of the study's page) on a served dashboard."""
    summaries = get_json(f"{base}/api/studies")["study_summaries"]
    found = [s["study_id"] for s in summaries if s["study_name"] == study_name]
    if not found:
        names = ", ".join(s["study_name"] for s in summaries) or "none"
        raise BrowserError(f"the dashboard serves no study named '{study_name}' (it serves: {names})")
    return found[0], f"{base}/dashboard/studies/{found[0]}"


# -- Chromium over the DevTools protocol ---------------------------------------------------------------------------
class Page:
    """One browser tab, driven by CDP commands over its websocket."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        mid = next(self._ids)
        self._ws.settimeout(timeout)
        self._ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        while True:  # events arrive in between; the answer carries our id
            msg = json.loads(self._ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise BrowserError(f"Chromium refused {method}: {msg['error'].get('message', msg['error'])}")
                return msg.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed in the page: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        """Evaluate `expression` until it is truthy; its value. Times out with what was awaited and the page text."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText.slice(0, 600) : ''")
                raise BrowserError(f"the page did not show {what} within {timeout:.0f} s; it showed: {text!r}")
            time.sleep(0.25)

    def navigate(self, url: str, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.enable")
        failed = self.send("Page.navigate", {"url": url}).get("errorText")
        if failed:
            raise BrowserError(f"Chromium could not open {url}: {failed}")

    def screenshot(self, path: Path) -> Path:
        """The whole page (beyond the window), as a PNG."""
        import base64

        size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        data = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
        })["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


@contextmanager
def chromium(binary: str | None = None, timeout: float = 60) -> Iterator[Page]:
    """Headless Chromium with a fresh profile (removed afterwards); yields its first tab."""
    try:
        import websocket  # websocket-client
    except ImportError:
        raise BrowserError("the websocket-client package is missing: pip install -e '.[test]' "
                              "(or pip install websocket-client)") from None
    binary = binary or find_chromium()
    if binary is None:
        raise BrowserError(NO_CHROMIUM)
    scratch = Path(tempfile.mkdtemp(prefix="greenknobs-chromium-"))
    profile, log = scratch / "profile", scratch / "chromium.log"  # a file, not a pipe: a full pipe would stall it
    with log.open("w") as err:
        proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=err)
    ws = None
    try:
        active = profile / "DevToolsActivePort"  # Chromium writes its port here once it listens
        deadline = time.monotonic() + timeout
        while not (active.is_file() and active.read_text().count("\n") >= 1):
            if proc.poll() is not None:
                raise BrowserError(f"{binary} exited {proc.returncode} at start: {log.read_text()[-1500:]}")
            if time.monotonic() > deadline:
                raise BrowserError(f"{binary} opened no DevTools port within {timeout:.0f} s")
            time.sleep(0.1)
        port = int(active.read_text().splitlines()[0])
        tabs = [t for t in get_json(f"http://127.0.0.1:{port}/json/list") if t.get("type") == "page"]
        if not tabs:
            raise BrowserError(f"{binary} has no page to drive")
        ws = websocket.create_connection(tabs[0]["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True,
                                         enable_multithread=False)
        yield Page(ws)
    finally:
        if ws is not None:
            ws.close()
        stop(proc)
        shutil.rmtree(scratch, ignore_errors=True)


# -- what the study page shows --------------------------------------------------------------------------------------
# Ready when greenknobs' figures are drawn (optuna-dashboard renders each pushed figure with Plotly into
# <div id="user-defined-plot:ID">), the Pareto-front chart is drawn, and the Best Trials card has its title.
READY_JS = """(() => {
  const drawn = el => !!(el && el.querySelector('.main-svg'));
  const figures = %s.every(id => drawn(document.getElementById('user-defined-plot:' + id)));
  const best = [...document.querySelectorAll('h6')].some(h => h.textContent.startsWith('Best Trial'));
  return figures && best && drawn(document.getElementById('graph-pareto-front'));
})()""" % json.dumps(list(FIGURE_IDS))

# The page as a reader sees it: the Best Trials card (its title and the trial numbers listed in it), each pushed
# figure (drawn, its title), the traces of optuna-dashboard's Pareto-front and History charts, the Study User
# Attributes card (the rows its table shows on its first page and the count under it; null without the card), and
# the page's text.
SNAPSHOT_JS = """(() => {
  const title = [...document.querySelectorAll('h6')].find(h => h.textContent.startsWith('Best Trial'));
  const card = title.closest('.MuiCard-root') || title.parentElement;
  const figure = id => {
    const el = document.getElementById('user-defined-plot:' + id);
    const t = el && el.querySelector('.gtitle');
    return {drawn: !!(el && el.querySelector('.main-svg')), title: t ? t.textContent : null,
            traces: el && el.data ? el.data.length : 0};
  };
  const traces = id => {
    const el = document.getElementById(id);
    return (el && el.data || []).map(t => ({name: t.name || null, hovertemplate: t.hovertemplate || null,
      x: Array.from(t.x || []), y: Array.from(t.y || []), color: t.marker ? t.marker.color : null}));
  };
  const attrsTitle = [...document.querySelectorAll('h6')].find(h => h.textContent === 'Study User Attributes');
  const attrsCard = attrsTitle && (attrsTitle.closest('.MuiCard-root') || attrsTitle.parentElement);
  const cells = tr => [...tr.querySelectorAll('td')].map(td => td.textContent);
  return {
    study_user_attrs: attrsCard ? {
      rows: [...attrsCard.querySelectorAll('tbody tr')].map(cells).filter(r => r.length === 2),
      count: (attrsCard.querySelector('.MuiTablePagination-displayedRows') || {}).textContent || null,
    } : null,
    best_title: title.textContent,
    best_items: [...card.querySelectorAll('h5')].map(h => h.textContent),
    figures: Object.fromEntries(%s.map(id => [id, figure(id)])),
    pareto_chart: traces('graph-pareto-front'),
    history_chart: traces('plot-history'),
    text: document.body.innerText,
    svg_text: [...document.querySelectorAll('svg text')].map(t => t.textContent).join('\\n'),
  };
})()""" % json.dumps(list(FIGURE_IDS))


def best_trial_numbers(snapshot: dict[str, Any]) -> list[int]:
    """The trial numbers the Best Trials card lists: "Best Trial (number=N)" for one, "Trial N" items for several."""
    title = snapshot["best_title"]
    if title.startswith("Best Trial (number="):
        return [int(title.split("=", 1)[1].rstrip(")"))]
    return [int(item.split()[-1]) for item in snapshot["best_items"]]


def capture(base: str, study_name: str, out: Path, *, width: int = 1600, height: int = 2400,
            timeout: float = 120, binary: str | None = None) -> dict[str, Any]:
    """Open the study's page on a served dashboard, wait until it is drawn, write the full page to `out` (PNG);
    returns what the page shows (SNAPSHOT_JS's object, plus `best_trials`: the numbers in the Best Trials card)."""
    _, url = study_page(base, study_name)
    with chromium(binary) as page:
        page.navigate(url, width, height)
        page.wait_for(READY_JS, timeout, "greenknobs' figures, the Pareto-front chart and Best Trials")
        time.sleep(0.5)  # Plotly finishes its transitions; the data is all there already
        snapshot = page.evaluate(SNAPSHOT_JS)
        page.screenshot(out)
    snapshot["best_trials"] = best_trial_numbers(snapshot)
    snapshot["url"] = url
    return snapshot


def infeasible_points(snapshot: dict[str, Any]) -> list[tuple[float, float]]:
    """(x, y) of the trials optuna-dashboard's Pareto-front chart draws as infeasible (grey)."""
    return [(x, y) for t in snapshot["pareto_chart"] if "Infeasible Trial" in (t["hovertemplate"] or "")
            for x, y in zip(t["x"], t["y"])]
