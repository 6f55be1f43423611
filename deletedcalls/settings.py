"""Settings: one frozen dataclass, read once per command.

Precedence, highest first: command-line option > environment variable >
``config.toml`` in the warehouse home > the defaults below.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from deletedcalls.errors import ConfigError

CONFIG_NAME = "config.toml"

DEFAULT_CONFIG = """\
# deletedcalls warehouse configuration.
# Command-line options override these values for one run.

[retention]
# Days a deleted-calls partition (one month of deletedAt) is kept after the
# month's last day before it is archived to dr/ and purged from the warehouse.
days = 90

[ingest]
# Largest share of rejected records a CDR file may have and still load
# (0.01 = 1 %). Over it, the whole file is rejected and nothing of it loads.
max_reject_ratio = 0.01
# IANA time zone of the wall-clock times in canonical CDR files (each call's
# startedAt is computed from it); carrier profiles name their own zone.
# zone = "UTC"

[permissions]
# Users who may read deleted calls (list, get, restore, sql over them).
# The acting user is $DELETEDCALLS_USER, else the login of the process's uid.
data_protection = ["dpo"]

[privacy]
# In published/analyst.duckdb, a deleted_calls_summary cell of fewer deletions
# than this shows no cost and no duration (counts stay).
min_cell = 5

[access]
# An OS group whose members may open published/analyst.duckdb read-only with
# any DuckDB client. Empty: the analyst store is owner-only like the rest.
analyst_group = ""

[publish]
# Published stores holding fewer rows than this are always written fresh;
# larger ones are extended by the rows added since, when that is checked safe
# (docs/SECURITY.md). Writing a small store fresh costs less than the check.
extend_min_rows = 200000

[analyst]
# Bounds of every `sql` query (analysts' and officers'), locked: a query cannot
# raise them. A query that runs longer than timeout_seconds is stopped (exit 2,
# and logged). Sizes as DuckDB writes them: "512MB", "2GB", "1.5GiB".
timeout_seconds = 300
memory_limit = "2GB"
threads = 2
max_temp_directory_size = "10GB"

[serve]
# The address clients reach `serve` at (e.g. "https://calls.example.org"): the
# next/previous links of a page start with it. Empty: the links are relative
# (/backend/api/v1/deletedCalls/?cursor=...). Never taken from a request.
public_url = ""

[lake]
# Where the warehouse's tables live (docs/SCALE.md). Empty: in this home (the
# catalog deletedcalls.duckdb, the data files under data/). A shared warehouse
# that several machines reach: catalog = "postgresql://user@host:5432/db" (no
# password here: libpq reads $PGPASSWORD or ~/.pgpass / $PGPASSFILE) and
# data = "s3://bucket/prefix" or "file:///shared/mount/folder". Written by
# `init --catalog URL --data URI`; every home of the warehouse has the same two.
catalog = ""
data = ""

[lake.s3]
# The S3-compatible endpoint (empty: AWS, or $AWS_ENDPOINT_URL) and region of an
# s3:// data URI. Credentials come from the AWS chain, never from here.
endpoint = ""
region = ""

[dr]
# Where DR archives go (SPEC 11): URIs of mounted folders (file:///mnt/offsite/deletedcalls)
# or S3-compatible object storage (s3://bucket/prefix). Default: dr/ in this home, which is
# not off the machine (`dr list` says so). A job file cannot change this.
# targets = ["file:///mnt/offsite/deletedcalls", "s3://dr-archives/deletedcalls"]
# The keyring of the archives' key-encryption keys: outside this home, owned by the user
# running deletedcalls, mode 0600; created on first use. Default:
# $XDG_CONFIG_HOME (~/.config)/deletedcalls/keyrings/<warehouse id>.keyring
# keyring = "/etc/deletedcalls/dr.keyring"
# Days after a partition's purge when its key is destroyed (crypto-shredding) and its
# objects deleted where the target allows.
retention_days = 2555
# S3 Object Lock retention of each object (until its partition's DR expiry), where the
# bucket has Object Lock: "", "GOVERNANCE" or "COMPLIANCE".
lock_mode = ""

[dr.s3]
# An S3-compatible endpoint (empty: AWS, or $AWS_ENDPOINT_URL) and region. Credentials
# come from the AWS environment variables, shared files or instance roles, never from here.
endpoint = ""
region = ""
"""

# Every key config.toml may hold, with its type, for clear errors on typos.
KNOWN_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "retention": {"days": int},
    "ingest": {"max_reject_ratio": (int, float), "zone": str},
    "permissions": {"data_protection": list},
    "privacy": {"min_cell": int},
    "access": {"analyst_group": str},
    "inbox": {"min_age_seconds": int},
    "publish": {"extend_min_rows": int},
    "analyst": {"timeout_seconds": int, "memory_limit": str, "threads": int, "max_temp_directory_size": str},
    "serve": {"public_url": str},
    "dr": {"targets": list, "keyring": str, "retention_days": int, "lock_mode": str, "s3": dict},
    "lake": {"catalog": str, "data": str, "s3": dict},
}
# [dr.s3], a table inside [dr]
DR_S3_KEYS: dict[str, type] = {"endpoint": str, "region": str}
LOCK_MODES = ("", "GOVERNANCE", "COMPLIANCE")


# 100 years: past it, a partition's expiry date overflows the calendar (year 9999)
MAX_RETENTION_DAYS = 36_525


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    """The warehouse home: --home, else $DELETEDCALLS_HOME, else ./warehouse; absolute (symlinks kept as given).

    Absolute because the lake names its files by absolute path and the analyst store's calls view names the
    published links by path: a relative home would publish paths that only work from the batch's folder.
    """
    if home:
        return Path(home).absolute()
    env = os.environ.get("DELETEDCALLS_HOME")
    return (Path(env) if env else Path("warehouse")).absolute()


def acting_user() -> str:
    """$DELETEDCALLS_USER, else the login name of the process's uid (SPEC 7).

    $DELETEDCALLS_USER is for the owner running the tool on someone's behalf (the
    officer wrapper sets it from sudo's SUDO_USER). Without it the user is who the
    process runs as: never $LOGNAME or $USER, which anyone can set
    (``getpass.getuser()`` reads them first).
    """
    user = os.environ.get("DELETEDCALLS_USER")
    if user:
        return user
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # no passwd entry in some containers
        return f"uid-{os.getuid()}"


@dataclass(frozen=True)
class QueryLimits:
    """The bounds of every `sql` query ([analyst] in config.toml), applied and locked on its connection."""

    timeout_seconds: int = 300
    memory_limit: str = "2GB"
    threads: int = 2
    max_temp_directory_size: str = "10GB"


# a size as DuckDB's memory_limit and max_temp_directory_size take it
_SIZE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,3})? ?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _query_limits(path: Path, raw: dict[str, Any]) -> QueryLimits:
    limits = QueryLimits(**raw)
    if not 1 <= limits.timeout_seconds <= 86_400:
        raise ConfigError(f"{path}: analyst.timeout_seconds must be between 1 and 86400, not {limits.timeout_seconds}")
    if not 1 <= limits.threads <= 1024:
        raise ConfigError(f"{path}: analyst.threads must be between 1 and 1024, not {limits.threads}")
    for key in ("memory_limit", "max_temp_directory_size"):
        if not _SIZE.match(getattr(limits, key)):
            raise ConfigError(f"{path}: analyst.{key} must be a size such as \"2GB\" or \"512MiB\", not {getattr(limits, key)!r}")
    return limits


def _public_url(path: Path, url: str) -> str:
    from urllib.parse import urlsplit

    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{path}: serve.public_url must be an http(s) URL such as \"https://calls.example.org\", not {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Everything a stage needs to know besides its connection."""

    home: Path
    """The warehouse directory (DuckDB file, config.toml, dr/)."""
    user: str
    """The acting user, for permissions and the access log."""
    retention_days: int = 90
    """Days a partition is kept after its month's last day."""
    max_reject_ratio: float = 0.01
    """Largest rejected share with which a CDR file still loads."""
    data_protection: frozenset[str] = field(default_factory=lambda: frozenset({"dpo"}))
    """Users allowed to read deleted-call data."""
    min_cell: int = 5
    """Smallest deleted_calls_summary cell whose cost and duration the analyst store shows."""
    analyst_group: str = ""
    """OS group that may read published/analyst.duckdb; empty: owner only."""
    min_age_seconds: int = 60
    """`run` leaves inbox files modified less than this many seconds ago for the next run."""
    zone: str = "UTC"
    """IANA zone of the wall-clock times of canonical CDR files ([ingest] zone)."""
    extend_min_rows: int = 200_000
    """Stores of fewer rows are published fresh, never extended ([publish] extend_min_rows)."""
    limits: QueryLimits = field(default_factory=lambda: QueryLimits())
    """What bounds every `sql` query ([analyst])."""
    public_url: str = ""
    """Where clients reach `serve`: the start of next/previous links; empty: relative links ([serve] public_url)."""
    dr_targets: tuple[str, ...] = ()
    """Where DR archives go, as URIs ([dr] targets); empty: dr/ in the home."""
    dr_keyring: str = ""
    """The keyring file ([dr] keyring); empty: $XDG_CONFIG_HOME/deletedcalls/keyrings/<warehouse id>.keyring."""
    dr_retention_days: int = 2555
    """Days after a partition's purge when its key is destroyed ([dr] retention_days)."""
    dr_lock_mode: str = ""
    """S3 Object Lock mode of new objects ([dr] lock_mode): "", GOVERNANCE or COMPLIANCE."""
    s3_endpoint: str = ""
    """S3-compatible endpoint ([dr.s3] endpoint); empty: AWS, or $AWS_ENDPOINT_URL."""
    s3_region: str = ""
    """S3 region ([dr.s3] region)."""
    lake_catalog: str = ""
    """The shared catalog's URL ([lake] catalog, postgresql://…); empty: the home's own DuckDB file."""
    lake_data: str = ""
    """Where the shared lake's data files are ([lake] data: s3://… or file:///…); empty: data/ in the home."""
    lake_s3_endpoint: str = ""
    """S3-compatible endpoint of an s3:// lake ([lake.s3] endpoint); empty: AWS, or $AWS_ENDPOINT_URL."""
    lake_s3_region: str = ""
    """Region of an s3:// lake ([lake.s3] region)."""

    @property
    def shared(self) -> bool:
        """Whether the warehouse lives in a shared catalog and data location (issue 30, ``catalog.py``)."""
        return bool(self.lake_catalog)

    @property
    def database(self) -> Path:
        return self.home / "deletedcalls.duckdb"

    @property
    def data_dir(self) -> Path:
        """The lake's data files (Parquet, one folder per table and month): owner-only."""
        return self.home / "data"

    @property
    def dr_dir(self) -> Path:
        return self.home / "dr"

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME

    @property
    def published_dir(self) -> Path:
        return self.home / "published"

    @property
    def spool_dir(self) -> Path:
        return self.home / "spool"

    @property
    def may_read_deleted_calls(self) -> bool:
        return self.user in self.data_protection


def read_config(path: Path) -> dict[str, Any]:
    """Parse and check config.toml; unknown keys are errors that suggest the nearest one."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Notepad) is no error
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); rewrite it as UTF-8") from e
    except OSError as e:  # a folder, a home that is a file, an unreadable disk: exit 7, not a bad config
        from deletedcalls.errors import EnvironmentFailure

        raise EnvironmentFailure(f"cannot read {path}: {e.strerror or e}; fix the path or its permissions", path=str(path)) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from e
    except RecursionError:  # arrays or tables nested thousands deep: Python's TOML parser recurses
        raise ConfigError(f"{path}: nested too deeply to be a warehouse config") from None
    for section, values in raw.items():
        if section not in KNOWN_KEYS:
            raise ConfigError(_unknown(path, section, KNOWN_KEYS))
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key, value in values.items():
            known = KNOWN_KEYS[section]
            if key not in known:
                raise ConfigError(_unknown(path, f"{section}.{key}", {f"{section}.{k}": 0 for k in known}))
            if isinstance(value, bool) or not isinstance(value, known[key]):
                raise ConfigError(f"{path}: {section}.{key} has the wrong type ({value!r})")
            check_text(path, section, key, value)
    _check_dr(path, raw.get("dr", {}))
    check_lake(path, raw.get("lake", {}))
    return raw


def check_text(where: object, section: str, key: str, value: Any) -> None:
    """A ConfigError when a text value (or one of a list) holds a NUL character: no path, name or user may."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(v, str) and "\x00" in v for v in texts):
        raise ConfigError(f"{where}: {section}.{key} holds a NUL character (\\u0000), which no name or path may hold")


def _check_dr(path: Path, dr: dict[str, Any]) -> None:
    """[dr] and [dr.s3]: the types and values that can be checked without the dr package."""
    for key, value in dr.get("s3", {}).items():
        if key not in DR_S3_KEYS:
            raise ConfigError(_unknown(path, f"dr.s3.{key}", {f"dr.s3.{k}": 0 for k in DR_S3_KEYS}))
        if not isinstance(value, DR_S3_KEYS[key]):
            raise ConfigError(f"{path}: dr.s3.{key} has the wrong type ({value!r})")
        check_text(path, "dr.s3", key, value)
    targets = dr.get("targets", [])
    if not targets and "targets" in dr:
        raise ConfigError(f"{path}: dr.targets is empty; leave it out for dr/ in the home, or list at least one URI")
    for t in targets:
        if not isinstance(t, str) or not t.startswith(("file:///", "s3://")):
            raise ConfigError(f"{path}: dr.targets: {t!r} is not a file:///absolute/path or s3://bucket/prefix URI")
    if dr.get("lock_mode", "") not in LOCK_MODES:
        raise ConfigError(f"{path}: dr.lock_mode must be \"\", \"GOVERNANCE\" or \"COMPLIANCE\", not {dr['lock_mode']!r}")
    days = dr.get("retention_days", 2555)
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise ConfigError(f"{path}: dr.retention_days must be between 1 and {MAX_RETENTION_DAYS}, not {days}")


LAKE_S3_KEYS: dict[str, type] = {"endpoint": str, "region": str}


def check_lake(where: object, lake: dict[str, Any]) -> None:
    """[lake] and [lake.s3]: a postgresql:// catalog URL without a password, with an s3:// or file:/// data URI."""
    for key, value in lake.get("s3", {}).items():
        if key not in LAKE_S3_KEYS:
            raise ConfigError(_unknown(Path(str(where)), f"lake.s3.{key}", {f"lake.s3.{k}": 0 for k in LAKE_S3_KEYS}))
        if not isinstance(value, LAKE_S3_KEYS[key]):
            raise ConfigError(f"{where}: lake.s3.{key} has the wrong type ({value!r})")
        check_text(where, "lake.s3", key, value)
    catalog, data = lake.get("catalog", ""), lake.get("data", "")
    if bool(catalog) != bool(data):
        raise ConfigError(f"{where}: [lake] catalog and data go together: a shared catalog needs a shared data URI and "
                          "the other way round (both empty: the warehouse lives in its home)")
    if not catalog:
        return
    from urllib.parse import urlsplit

    url = urlsplit(catalog)
    if _holds_password(catalog):  # before any message that would echo the URL
        raise ConfigError(f"{where}: lake.catalog holds a password; leave it out (libpq reads $PGPASSWORD or a "
                          "~/.pgpass / $PGPASSFILE file, owner-only)")
    if url.scheme not in ("postgresql", "postgres") or not url.hostname or not url.path.strip("/"):
        raise ConfigError(f"{where}: lake.catalog {catalog!r} is not a postgresql://user@host:port/database URL")
    if not (data.startswith("s3://") and len(data) > 5) and not (data.startswith("file:///") and len(data) > 8):
        raise ConfigError(f"{where}: lake.data {data!r} is not an s3://bucket/prefix or file:///absolute/folder URI")
    if not urlsplit(data).path.strip("/"):  # the analysts' prefix is beside it (catalog.analyst_data): in the bucket
        raise ConfigError(f"{where}: lake.data {data!r} names no prefix in its bucket or folder; add one "
                          "(s3://bucket/warehouse): the analysts' copies go beside it, under warehouse-analyst/")


def _holds_password(catalog: str) -> bool:
    """Whether a catalog URL carries a password: in its userinfo (``user:secret@``, also an empty one) or as libpq's
    ``password=`` parameter, in any case and however percent-encoded (issue 30, finding 4). Read as text too, so
    that a URL ``urlsplit`` cannot read is judged the same way."""
    from urllib.parse import unquote, urlsplit

    text = unquote(catalog).lower()
    if re.search(r"[?&]\s*password\s*=", text):
        return True
    try:
        return urlsplit(catalog).password is not None
    except ValueError:  # an unreadable URL (a bad IPv6 host): its userinfo by hand
        userinfo, at, _ = catalog.split("://", 1)[-1].partition("@")
        return bool(at) and ":" in userinfo


def _unknown(path: Path, key: str, known: dict[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{path}: unknown setting {key!r}{hint}"


# The range of each number config.toml may hold (and a job file or an option may override), as (check, what it must be).
MAX_MIN_AGE_SECONDS = 366 * 86400
RANGES: dict[tuple[str, str], tuple[Any, str]] = {
    ("retention", "days"): (lambda v: 0 <= v <= MAX_RETENTION_DAYS, f"between 0 and {MAX_RETENTION_DAYS}"),
    ("ingest", "max_reject_ratio"): (lambda v: 0 <= v <= 1, "between 0 and 1"),
    ("privacy", "min_cell"): (lambda v: v >= 1, "1 or more"),
    ("inbox", "min_age_seconds"): (lambda v: 0 <= v <= MAX_MIN_AGE_SECONDS, f"between 0 and {MAX_MIN_AGE_SECONDS}"),
    ("publish", "extend_min_rows"): (lambda v: v >= 0, "0 or more"),
}


def check_value(where: object, section: str, key: str, value: Any) -> None:
    """A ConfigError naming `where` (a file, an option) unless `value` is in the range of [section] key."""
    ok, what = RANGES[(section, key)]
    if not ok(value):
        raise ConfigError(f"{where}: {section}.{key} must be {what}, not {value}")


def _checked(path: Path, raw: dict[str, Any]) -> None:
    """Every value of config.toml in its range, also those a job file or an option overrides for one run."""
    for (section, key) in RANGES:
        if key in raw.get(section, {}):
            check_value(path, section, key, raw[section][key])
    users = raw.get("permissions", {}).get("data_protection")
    if users is not None and not all(isinstance(u, str) and u.strip() for u in users):
        raise ConfigError(f"{path}: permissions.data_protection must be a list of user names (non-empty strings), "
                          f"not {users!r}")
    if "zone" in raw.get("ingest", {}):
        _check_zone(path, raw["ingest"]["zone"])


def load_settings(
    home: str | os.PathLike[str] | None = None,
    *,
    retention_days: int | None = None,
    max_reject_ratio: float | None = None,
    min_age_seconds: int | None = None,
) -> Settings:
    """Settings for one command, with CLI overrides applied last.

    The whole of config.toml is checked first, also the values the overrides replace
    for this run: a bad config fails every command, not only those that read the key.
    """
    from deletedcalls.trust import check_home

    home_path = resolve_home(home)
    if "?" in str(home_path):
        raise ConfigError(
            f"the warehouse home {home_path!s} holds '?': DuckDB reads what follows a '?' in a database's path as "
            "options of its own (the write-ahead log would go astray); name a folder without '?'"
        )
    if home_path.exists() and not home_path.is_dir():
        from deletedcalls.errors import EnvironmentFailure

        raise EnvironmentFailure(f"--home {home_path} is not a directory; name the warehouse directory", path=str(home_path))
    check_home(home_path)  # before the config is believed: it grants data_protection
    config = home_path / CONFIG_NAME
    raw = read_config(config)
    _checked(config, raw)
    overrides = {("retention", "days"): retention_days, ("ingest", "max_reject_ratio"): max_reject_ratio,
                 ("inbox", "min_age_seconds"): min_age_seconds}
    for (section, key), value in overrides.items():
        if value is not None:
            check_value("the option or job file", section, key, value)

    def setting(section: str, key: str, default: Any) -> Any:
        given = overrides.get((section, key))
        return given if given is not None else raw.get(section, {}).get(key, default)

    return Settings(
        home=home_path,
        user=acting_user(),
        retention_days=int(setting("retention", "days", 90)),
        max_reject_ratio=float(setting("ingest", "max_reject_ratio", 0.01)),
        data_protection=frozenset(raw.get("permissions", {}).get("data_protection", ["dpo"])),
        min_cell=int(setting("privacy", "min_cell", 5)),
        analyst_group=setting("access", "analyst_group", ""),
        min_age_seconds=int(setting("inbox", "min_age_seconds", 60)),
        zone=setting("ingest", "zone", "UTC"),
        extend_min_rows=int(setting("publish", "extend_min_rows", 200_000)),
        limits=_query_limits(home_path / CONFIG_NAME, raw.get("analyst", {})),
        public_url=_public_url(home_path / CONFIG_NAME, raw.get("serve", {}).get("public_url", "")),
        **_dr_settings(raw.get("dr", {})),
        **_lake_settings(raw.get("lake", {})),
    )


def _lake_settings(lake: dict[str, Any]) -> dict[str, Any]:
    s3 = lake.get("s3", {})
    return dict(lake_catalog=lake.get("catalog", ""), lake_data=lake.get("data", ""),
                lake_s3_endpoint=s3.get("endpoint", ""), lake_s3_region=s3.get("region", ""))


def _dr_settings(dr: dict[str, Any]) -> dict[str, Any]:
    s3 = dr.get("s3", {})
    return dict(dr_targets=tuple(dr.get("targets", ())), dr_keyring=dr.get("keyring", ""),
                dr_retention_days=int(dr.get("retention_days", 2555)), dr_lock_mode=dr.get("lock_mode", ""),
                s3_endpoint=s3.get("endpoint", ""), s3_region=s3.get("region", ""))


def _check_zone(path: Path, zone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}: ingest.zone: unknown time zone {zone!r} (an IANA name such as 'Europe/London')") from None


def parse_date(value: str, what: str = "date") -> date:
    """A YYYY-MM-DD option value between 1900 and 2999, or a usage error naming it (a far date overflows date sums)."""
    try:
        parsed = date.fromisoformat(value)
    except ValueError as e:
        raise ConfigError(f"{what} must be YYYY-MM-DD, not {value!r}") from e
    if not 1900 <= parsed.year <= 2999:
        raise ConfigError(f"{what} must be a date between 1900-01-01 and 2999-12-31, not {value!r}")
    return parsed
