"""Job files (TOML, in jobs/): what a scheduled run ingests and with which limits.

```toml
[job]
name = "nightly"
inbox = "/var/spool/deletedcalls/inbox"   # relative paths are relative to this file's folder
# home = "/srv/deletedcalls"              # used when neither --home nor $DELETEDCALLS_HOME is given

[retention]
days = 90

[ingest]
max_reject_ratio = 0.01

[inbox]
min_age_seconds = 60   # files modified more recently are left for the next run

[[cdr]]                                   # pin a profile to the CDR files whose name matches a glob
glob = "Master*.csv"
profile = "stadion"
```
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deletedcalls.errors import ConfigError, EnvironmentFailure
from deletedcalls.settings import RANGES, check_text, check_value

KNOWN: dict[str, dict[str, type | tuple[type, ...]]] = {
    "job": {"name": str, "inbox": str, "home": str},
    "retention": {"days": int},
    "ingest": {"max_reject_ratio": (int, float)},
    "inbox": {"min_age_seconds": int},
}


@dataclass(frozen=True)
class Job:
    name: str
    path: Path
    inbox: Path | None
    home: Path | None
    retention_days: int | None
    max_reject_ratio: float | None
    min_age_seconds: int | None = None
    cdr_profiles: tuple[tuple[str, str], ...] = ()  # ([[cdr]] glob, profile), first match wins

    def home_for(self, given: Path | None) -> Path | None:
        """The home a run of this job uses: the one given (--home), else $DELETEDCALLS_HOME, else [job] home."""
        if given is None and self.home is not None and not os.environ.get("DELETEDCALLS_HOME"):
            return self.home
        return given


def load_job(path: Path) -> Job:
    if path.exists() and not path.is_file():  # a FIFO would block the read below
        raise ConfigError(f"job file {path} is not a regular file")
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Notepad) is no error
    except FileNotFoundError as e:
        raise ConfigError(f"no job file {path}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); rewrite it as UTF-8") from e
    except OSError as e:
        raise EnvironmentFailure(f"cannot read {path}: {e.strerror or e}; fix the path or its permissions", path=str(path)) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from e
    except RecursionError:  # arrays or tables nested thousands deep: Python's TOML parser recurses
        raise ConfigError(f"{path}: nested too deeply to be a job file") from None
    pins = _cdr_pins(path, raw.pop("cdr", []))
    for section, values in raw.items():
        if section == "dr":  # SPEC 11: where archives go is the warehouse's own setting, not a job's
            raise ConfigError(f"{path}: [dr] cannot be set in a job file: DR targets, keyring and lock are set in the "
                              "warehouse's config.toml only")
        if section not in KNOWN or not isinstance(values, dict):
            close = difflib.get_close_matches(section, list(KNOWN), n=1)
            raise ConfigError(f"{path}: unknown section [{section}]" + (f"; did you mean [{close[0]}]?" if close else ""))
        for key, value in values.items():
            if key not in KNOWN[section]:
                close = difflib.get_close_matches(key, list(KNOWN[section]), n=1)
                raise ConfigError(f"{path}: unknown setting {section}.{key}" + (f"; did you mean {section}.{close[0]}?" if close else ""))
            if isinstance(value, bool) or not isinstance(value, KNOWN[section][key]):
                raise ConfigError(f"{path}: {section}.{key} has the wrong type ({value!r})")
            if (section, key) in RANGES:
                check_value(path, section, key, value)
            check_text(path, section, key, value)
    base = path.resolve().parent

    def rel(v: str | None) -> Path | None:
        return None if v is None else (base / os.path.expanduser(v))

    job = raw.get("job", {})
    ratio = raw.get("ingest", {}).get("max_reject_ratio")
    return Job(
        name=job.get("name", path.stem),
        path=path,
        inbox=None if job.get("inbox") is None else rel(job["inbox"]).resolve(),  # type: ignore[union-attr]
        home=rel(job.get("home")),
        retention_days=raw.get("retention", {}).get("days"),
        max_reject_ratio=None if ratio is None else float(ratio),
        min_age_seconds=raw.get("inbox", {}).get("min_age_seconds"),
        cdr_profiles=pins,
    )


def _cdr_pins(path: Path, entries: Any) -> tuple[tuple[str, str], ...]:
    """The [[cdr]] tables: each pins a profile to the CDR files whose name matches its glob."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{path}: cdr must be written as [[cdr]] tables with glob and profile")
    pins = []
    for e in entries:
        for key in e:
            if key not in ("glob", "profile"):
                close = difflib.get_close_matches(key, ["glob", "profile"], n=1)
                raise ConfigError(f"{path}: unknown setting cdr.{key}" + (f"; did you mean cdr.{close[0]}?" if close else ""))
        if not isinstance(e.get("glob"), str) or not isinstance(e.get("profile"), str):
            raise ConfigError(f"{path}: each [[cdr]] needs glob and profile, both strings")
        pins.append((e["glob"], e["profile"]))
    return tuple(pins)
