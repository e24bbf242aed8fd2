"""Headless Chromium for the tests: open a local HTML file, let its scripts run, and return
the DOM they left (``--dump-dom``) or a screenshot (``--screenshot``).

Only what a test needs to ask "did markup from the data run or render?": :func:`chromium`
finds the browser, :func:`open_page` returns a parsed :class:`Dom` (title, tags with
attributes, text), :func:`screenshot` writes a PNG. Each call uses a fresh profile directory
and no network; pages are ``file://`` URLs. No pytest here (tests skip when
:func:`chromium` is None).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio")
TIMEOUT = 60.0  # seconds per browser call; a first start on a cold cache takes ≈ 1–3 s


def chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``$CHROMIUM`` first), or None when absent."""
    for name in (os.environ.get("CHROMIUM"), *CANDIDATES):
        if name and (path := shutil.which(name)):
            return path
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("no chromium executable on PATH")
    with tempfile.TemporaryDirectory(prefix="dhstats-chromium-") as profile:
        env = {**os.environ, "HOME": profile}  # no writes into the user's ~/.config
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              timeout=timeout, env=env, check=False, stdin=subprocess.DEVNULL)


def dump_dom(path: str | os.PathLike, budget_ms: int = 2000, timeout: float = TIMEOUT) -> str:
    """The serialised DOM of ``file://<path>`` after its scripts ran: Chromium's
    ``--dump-dom`` with ``--virtual-time-budget`` (timers and load events advance in
    virtual time, so an ``onerror`` of a broken image has fired by then; with a budget of 0
    Chromium 156 never returned here, so it is at least 1 ms)."""
    url = Path(path).resolve().as_uri()
    proc = _run([f"--virtual-time-budget={max(1, int(budget_ms))}", "--dump-dom", url], timeout)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"chromium --dump-dom {url} failed (exit {proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return proc.stdout.decode("utf-8", errors="replace")


def screenshot(path: str | os.PathLike, out: str | os.PathLike, size: tuple[int, int] = (1400, 2000),
               budget_ms: int = 2000, timeout: float = TIMEOUT) -> Path:
    """Write a PNG of ``file://<path>`` rendered in a ``size`` = (width, height) window after
    its scripts ran; returns ``out``."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    url = Path(path).resolve().as_uri()
    proc = _run([f"--virtual-time-budget={max(1, int(budget_ms))}", f"--window-size={size[0]},{size[1]}",
                 f"--screenshot={out}", url], timeout)
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium --screenshot {url} failed (exit {proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return out


PROBE_ID = "dhstats-probe"


def probe(path: str | os.PathLike, script: str, size: tuple[int, int] = (1400, 2000), budget_ms: int = 3000,
          timeout: float = TIMEOUT):
    """Evaluate the JavaScript function body ``script`` in ``file://<path>`` as rendered in a
    ``size`` window, after the page's own scripts and its load event, and return what it
    returns (JSON). The page is copied next to itself with the probe appended (the original
    is untouched); the value travels back as the text of an element in the dumped DOM."""
    import html as _html
    import json
    import re

    page = Path(path).resolve()
    copy = page.with_name(f".probe-{os.getpid()}-{page.name}")
    tag = (f"<script>window.addEventListener('load', () => setTimeout(() => {{"
           f"const p = document.createElement('pre'); p.id = '{PROBE_ID}';"
           f"p.textContent = JSON.stringify((() => {{ {script} }})()); document.body.appendChild(p);}}, 200));</script>")
    copy.write_bytes(page.read_bytes() + tag.encode())
    try:
        proc = _run([f"--virtual-time-budget={max(1, int(budget_ms))}", f"--window-size={size[0]},{size[1]}",
                     "--dump-dom", copy.as_uri()], timeout)
    finally:
        copy.unlink(missing_ok=True)
    m = re.search(rf'<pre id="{PROBE_ID}">(.*?)</pre>', proc.stdout.decode("utf-8", errors="replace"), re.S)
    if m is None:
        raise RuntimeError(f"probe of {page} returned nothing (exit {proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(_html.unescape(m.group(1)))


@dataclass
class Dom:
    """A DOM as Chromium left it: ``title`` (of the first <title>, as the browser's
    ``document.title``: whitespace collapsed), every element as (tag, attributes), and its
    text nodes (script and style bodies excluded)."""

    title: str = ""
    tags: list[tuple[str, dict]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def handlers(self) -> list[tuple[str, dict]]:
        """Elements carrying an event-handler attribute (``on…``)."""
        return [(t, a) for t, a in self.tags if any(k.lower().startswith("on") for k in a)]

    def find(self, tag: str, **attrs: str) -> list[dict]:
        """Attributes of every ``tag`` element whose attributes include ``attrs``."""
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.dom = Dom()
        self._title: list[str] | None = None
        self._skip = 0
        self._titled = False

    def handle_starttag(self, tag, attrs):
        self.dom.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "title" and not self._titled:
            self._title = []

    def handle_startendtag(self, tag, attrs):
        self.dom.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title" and self._title is not None:
            self.dom.title = " ".join("".join(self._title).split())
            self._title, self._titled = None, True

    def handle_data(self, data):
        if self._title is not None:
            self._title.append(data)
        elif not self._skip:
            self.dom.texts.append(data)


def parse_dom(html: str) -> Dom:
    """A :class:`Dom` from serialised HTML (what :func:`dump_dom` returns)."""
    p = _Parser()
    p.feed(html)
    p.close()
    return p.dom


def open_page(path: str | os.PathLike, budget_ms: int = 2000) -> Dom:
    """Open a local HTML file in headless Chromium; the DOM after its scripts ran."""
    return parse_dom(dump_dom(path, budget_ms))


__all__ = ["Dom", "chromium", "dump_dom", "open_page", "parse_dom", "probe", "screenshot"]
