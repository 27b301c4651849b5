"""Logging for every rtrm process: loguru, configured once by :func:`configure_logging`.

Human-readable lines go to stderr, JSON lines to an optional rotating file. Keepers hold signing keys, so every
record is scrubbed before it reaches a sink: anything shaped like a private key (64 hex digits, with or
without 0x), a BIP39-style mnemonic (12+ wordlist words in a row), and the values of secret-looking
environment variables (names containing KEY, SECRET, PASSWORD, PASSPHRASE, MNEMONIC or TOKEN). The scrub
covers the message, the bound ``extra`` values and the exception text (the stderr sink scrubs the final
formatted line, and the JSON sink formats exceptions itself). Tracebacks never show local variables
(``diagnose=False``). Transaction and block hashes look exactly like keys, so they are shortened too
(``0xa090…[REDACTED:hex64]``): correlate actions by their idempotency key, not by a logged hash.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import sys
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record

SECRET_ENV_NAME = re.compile(r"KEY|SECRET|PASSWORD|PASSPHRASE|MNEMONIC|TOKEN", re.IGNORECASE)
MIN_SECRET_LEN = 6  # shorter env values ("1", "true") would redact half of every log line
MIN_MNEMONIC_WORDS = 12

# exactly 64 hex digits between non-hex characters (longer runs are calldata/bytecode, not a key)
_HEX64 = re.compile(r"(?<![0-9a-fA-F])(0x)?([0-9a-fA-F]{4})[0-9a-fA-F]{60}(?![0-9a-fA-F])")
# starts only at a word start: otherwise a long run of letters makes the search quadratic
_WORD_RUN = re.compile(rf"(?<![A-Za-z])[A-Za-z]+(?:\s+[A-Za-z]+){{{MIN_MNEMONIC_WORDS - 1},}}")

HUMAN_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {name}:{line} - {message}"
_JSON_KEY = "_rtrm_json"


@lru_cache(maxsize=1)
def _bip39_words() -> frozenset[str]:
    """The BIP39 English wordlist shipped with eth-account (no copy in this repo)."""
    import eth_account

    path = Path(eth_account.__file__).parent / "hdaccount" / "wordlist" / "english.txt"
    try:
        return frozenset(path.read_text().split())
    except OSError:
        return frozenset()


class Redactor:
    """Replaces secrets in text. Pure and reusable (the CLI uses it for error lines too)."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        items = sorted((secrets or {}).items(), key=lambda kv: -len(kv[1]))  # longest first: no partial leaks
        self._secrets = [(name, value) for name, value in items if len(value) >= MIN_SECRET_LEN]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> Redactor:
        environ = os.environ if env is None else env
        secrets = {k: v for k, v in environ.items() if SECRET_ENV_NAME.search(k) and v.strip()}
        secrets.update({f"secret{i}": v for i, v in enumerate(extra)})
        return cls(secrets)

    def text(self, s: str) -> str:
        for name, value in self._secrets:
            if value in s:
                s = s.replace(value, f"[REDACTED:{name}]")
        s = _HEX64.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}…[REDACTED:hex64]", s)
        return _WORD_RUN.sub(self._mnemonic, s)

    @staticmethod
    def _mnemonic(m: re.Match[str]) -> str:
        words = m.group(0).split()
        bip = _bip39_words()
        # redact each maximal run of >= 12 consecutive wordlist words inside the alphabetic run
        out: list[str] = []
        run: list[str] = []
        for w in [*words, ""]:
            if w and w.lower() in bip:
                run.append(w)
                continue
            if len(run) >= MIN_MNEMONIC_WORDS:
                out.append("[REDACTED:mnemonic]")
            else:
                out.extend(run)
            run = []
            if w:
                out.append(w)
        return " ".join(out) if out != words else m.group(0)

    def value(self, v: Any) -> Any:
        """Redact inside JSON-like values; other objects become their redacted ``str`` when it differs."""
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, Mapping):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return type(v)(self.value(x) for x in v)
        if isinstance(v, int | float | bool) or v is None:
            return v
        s = str(v)
        r = self.text(s)
        return v if r == s else r


_redactor = Redactor.from_env()


def redactor() -> Redactor:
    """The active redactor (rebuilt by :func:`configure_logging`)."""
    return _redactor


def register_secret(value: str) -> None:
    """Redact ``value`` from all later log records (e.g. a key loaded from a file, not the environment)."""
    global _redactor
    _redactor = Redactor({**dict(_redactor._secrets), f"secret{len(_redactor._secrets)}": value})


def _patch(record: Record) -> None:
    r = _redactor
    record["message"] = r.text(record["message"])
    extra = record["extra"]
    for k in list(extra):
        if k != _JSON_KEY:
            extra[k] = r.value(extra[k])


def _exception_text(record: Record) -> str | None:
    exc = record["exception"]
    if exc is None or exc.type is None:
        return None
    return _redactor.text("".join(traceback.format_exception(exc.type, exc.value, exc.traceback)))


def _json_format(record: Record) -> str:
    """Flat JSON line per record, built here so the exception text is scrubbed before it is written."""
    exc = record["exception"]
    doc = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "message": record["message"],
        "name": record["name"],
        "function": record["function"],
        "line": record["line"],
        "process": record["process"].id,
        "extra": {k: v for k, v in record["extra"].items() if k != _JSON_KEY},
        "exception": None
        if exc is None or exc.type is None
        else {
            "type": exc.type.__name__,
            "value": _redactor.text(str(exc.value)),
            "traceback": _exception_text(record),
        },
    }
    record["extra"][_JSON_KEY] = json.dumps(doc, default=lambda o: _redactor.text(str(o)), ensure_ascii=False)
    return "{extra[" + _JSON_KEY + "]}\n"


class _StderrSink:
    """Writes the fully formatted line (incl. traceback) after scrubbing it once more."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def write(self, message: Message) -> None:
        stream = self._stream if self._stream is not None else sys.stderr  # looked up late: pytest capture
        stream.write(_redactor.text(str(message)))
        stream.flush()


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def parse_size(text: str) -> int:
    """ "20 MB" → bytes (B, KB, MB, GB; binary units)."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"log rotation {text!r} must be a size like '20 MB' or '512 KB'")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


class JsonFileSink:
    """The JSON-lines file: size rotation, gzip archives, retention — and a disk that refuses writes (ENOSPC,
    EIO, a vanished mount) never reaches the code that logged. Why our own sink: loguru's file sink reports
    write errors only as text on stderr, so nothing could tell the keeper that its audit log is degraded.
    `problem` is the current failure (None when writing works); lines that could not be written are counted."""

    def __init__(self, path: Path, rotation_bytes: int, retention: int) -> None:
        self.path, self.rotation_bytes, self.retention = path, rotation_bytes, retention
        self.problem: str | None = None
        self.dropped = 0
        self._fh: TextIO | None = None
        self._size = 0

    def write(self, message: str) -> None:
        try:
            if self._fh is None:
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across writes
                self._size = self.path.stat().st_size
            if self._size and self._size + len(message) > self.rotation_bytes:
                self._rotate()
            assert self._fh is not None
            self._fh.write(message)
            self._fh.flush()
            self._size += len(message.encode("utf-8"))
            self.problem = None
        except OSError as exc:
            self.dropped += 1
            self.problem = f"cannot write {self.path}: {exc.strerror or exc} ({self.dropped} lines lost)"
            self._close()  # reopened on the next line: writing resumes once the disk takes it again

    def retry(self) -> str | None:
        """While degraded: try to write a marker line saying how many lines were lost (the only way to learn
        that the disk takes writes again when nothing else is being logged). Returns the problem, if any."""
        if self.problem is not None:
            lost, why = self.dropped, self.problem
            self.write(json.dumps({"time": datetime.now(UTC).isoformat(), "level": "WARNING",
                                   "message": f"log sink recovered: lines were lost ({why})", "lost": lost}) + "\n")
        return self.problem

    def _rotate(self) -> None:
        self._close()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d_%H-%M-%S_%f")
        archive = self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}.gz")
        with open(self.path, "rb") as src, gzip.open(archive, "wb") as dst:
            shutil.copyfileobj(src, dst)
        self.path.unlink()
        old = sorted(self.path.parent.glob(f"{self.path.stem}.*{self.path.suffix}.gz"))
        for stale in old[: max(len(old) - self.retention, 0)]:
            stale.unlink(missing_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._size = 0

    def _close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None

    def stop(self) -> None:
        self._close()


_json_sink: JsonFileSink | None = None


def log_sink_problem() -> str | None:
    """Why the JSON log file cannot be written right now (None when it can, or when there is none); while it
    fails, each call retries the disk once."""
    return _json_sink.retry() if _json_sink is not None else None


def configure_logging(
    level: str = "INFO",
    json_path: str | os.PathLike[str] | None = None,
    *,
    json_level: str = "DEBUG",
    rotation: str = "20 MB",
    retention: int = 5,
    compression: str = "gz",
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """(Re)configure the global loguru logger: stderr at ``level``, JSON lines to ``json_path`` if given.

    Idempotent: calling it again replaces the previous configuration. ``secrets`` are extra literal values to
    redact besides the secret-looking environment variables read now.
    """
    global _redactor, _json_sink
    _redactor = Redactor.from_env(extra=secrets)
    logger.remove()
    _json_sink = None
    logger.configure(patcher=_patch, extra={})
    logger.add(
        _StderrSink(stream),
        level=level.upper(),
        format=HUMAN_FORMAT,
        colorize=False,
        backtrace=False,
        diagnose=False,
    )
    if json_path is not None:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if compression != "gz":
            raise ValueError(f"log compression {compression!r}: only 'gz' is supported")
        _json_sink = JsonFileSink(path, parse_size(rotation), retention)
        logger.add(
            _json_sink,
            level=json_level.upper(),
            format=_json_format,
            backtrace=False,
            diagnose=False,
            catch=True,
        )
