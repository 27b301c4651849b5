"""Headless Chromium for checking the demo report the way a reader sees it: a screenshot, and the browser's
own verdict on which images failed to load.

Chromium runs with a throw-away profile and every background service off, so a check neither touches the
network nor leaves state behind. `missing_images` is the file-level check (no browser needed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

ENV_OVERRIDE = "RTRM_CHROMIUM"
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
    "--disable-extensions", "--mute-audio",
)
_CHECK_ID = "rtrm-image-check"
# Runs after every image has loaded or failed (the load event), and writes the verdict into the DOM that
# --dump-dom prints.
_CHECK_SCRIPT = (
    "<script>window.addEventListener('load',function(){"
    "var imgs=Array.prototype.slice.call(document.images);"
    "var broken=imgs.filter(function(i){return !i.complete||!i.naturalWidth;})"
    ".map(function(i){return i.getAttribute('src');});"
    f"var out=document.createElement('pre');out.id='{_CHECK_ID}';"
    "out.textContent=JSON.stringify({total:imgs.length,broken:broken,"
    "height:document.documentElement.scrollHeight});document.body.appendChild(out);});</script>"
)


class ChromiumError(RuntimeError):
    """Chromium is missing or did not produce what was asked; the message says what to do."""


@dataclass(frozen=True)
class ImageCheck:
    total: int  # <img> elements on the page
    broken: list[str]  # their src attributes where the browser has no decoded image
    page_height: int  # CSS pixels: how tall a full-page screenshot must be


def find_chromium() -> str | None:
    """$RTRM_CHROMIUM, else /usr/bin/chromium, else the usual names on PATH."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise ChromiumError(f"{ENV_OVERRIDE}={override!r} is not an executable file")
        return override
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _require_chromium() -> str:
    exe = find_chromium()
    if exe is None:
        raise ChromiumError("Chromium not found: run `make setup` (installs the Debian `chromium` package) "
                            f"or set {ENV_OVERRIDE}=/path/to/chromium")
    return exe


def _run(args: list[str], page: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """One headless run with a fresh profile; Chromium's exit code and stderr tail go into the error."""
    with tempfile.TemporaryDirectory(prefix="rtrm-chromium-") as profile:
        cmd = [_require_chromium(), *_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ChromiumError(f"Chromium did not finish {page} within {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ChromiumError(f"Chromium exited with {proc.returncode} on {page}:\n{tail}")
    return proc


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 4000, timeout_s: float = 90.0) -> Path:
    """Render `html` at width × height CSS pixels into `png`."""
    if not html.is_file():
        raise ChromiumError(f"no page to screenshot at {html}")
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _run([f"--screenshot={png.resolve()}", f"--window-size={width},{height}"], html, timeout_s)
    if not png.is_file() or png.stat().st_size == 0:
        raise ChromiumError(f"Chromium exited cleanly but wrote no screenshot to {png}")
    return png


class _Collect(HTMLParser):
    def __init__(self, tag: str, attr: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.tag, self.attr = tag, attr
        self.values: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == self.tag and self.attr is not None:
            self.values.append(found.get(self.attr) or "")
        elif tag == self.tag and found.get("id") == _CHECK_ID:
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        self._inside = self._inside and tag != self.tag

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.values.append(data)


def image_sources(html: Path) -> list[str]:
    parser = _Collect("img", "src")
    parser.feed(html.read_text(encoding="utf-8"))
    return parser.values


def _is_png(path: Path) -> bool:
    """Signature, then a full decode: a truncated or corrupt file is as broken as a missing one."""
    import matplotlib.image  # local: only the report check needs the decoder

    try:
        with path.open("rb") as fh:
            if fh.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
                return False
        matplotlib.image.imread(path, format="png")
    except (OSError, ValueError, SyntaxError):
        return False
    return True


def missing_images(html: Path) -> list[str]:
    """The page's <img src> values that are not local files holding a valid PNG (remote URLs included)."""
    bad = []
    for src in image_sources(html):
        url = urlparse(src)
        local = url.scheme in ("", "file") and not url.netloc
        target = html.parent / unquote(url.path) if local else None
        if target is None or not target.is_file() or not _is_png(target):
            bad.append(src)
    return bad


def check_images_in_browser(html: Path, timeout_s: float = 90.0) -> ImageCheck:
    """Load a copy of the page with a probe script beside the original (so relative paths resolve) and read
    Chromium's verdict on every <img> from the dumped DOM. The report itself stays script-free."""
    source = html.read_text(encoding="utf-8")
    if "</body>" not in source:
        raise ChromiumError(f"{html} has no </body>: not a page the image check can probe")
    probe = html.with_name(f".{html.stem}.imgcheck.html")
    probe.write_text(source.replace("</body>", _CHECK_SCRIPT + "</body>", 1), encoding="utf-8")
    try:
        proc = _run(["--dump-dom"], probe, timeout_s)
    finally:
        probe.unlink(missing_ok=True)
    parser = _Collect("pre")
    parser.feed(proc.stdout)
    if not parser.values:
        raise ChromiumError(f"Chromium loaded {html} but the image probe never reported (page load incomplete?)")
    verdict = json.loads("".join(parser.values))
    return ImageCheck(int(verdict["total"]), [str(s) for s in verdict["broken"]], int(verdict["height"]))
