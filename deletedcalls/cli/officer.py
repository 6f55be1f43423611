"""``deletedcalls-officer``: the one program the sudo rule lets officers run as the service user (docs/SECURITY.md).

sudo starts it as the service user with sudo's own reset environment; it then
runs ``deletedcalls`` with

- the acting user taken from ``SUDO_USER`` (set by sudo from the officer's real
  login; the officer cannot choose it), never from an argument or a variable;
- the home fixed: the service user's home directory in the password database
  (root's to change), never an argument;
- no environment but a fixed PATH, locale, home and user (``PYTHONPATH``,
  ``DELETEDCALLS_*``, ``LD_*`` and the rest are dropped; Python runs isolated);
- only read commands (``ALLOWED``), with no option that names a file: ``sql
  --file`` only from stdin (``-``), no ``--home``, no ``--debug``.

Anything else is refused with exit 4 and one line, before anything runs.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# command -> the subcommands an officer may run (None: the command takes no subcommand)
ALLOWED: dict[str, frozenset[str] | None] = {
    "deleted-calls": frozenset({"list", "get"}),
    "sql": None,
    "files": frozenset({"list"}),
    "runs": frozenset({"list"}),
    "dr": frozenset({"list"}),
}
# global options an officer may give before the command (option -> takes a value)
GLOBAL_OPTIONS = {"--log-format": True, "--quiet": False}
PATH = "/usr/local/bin:/usr/bin:/bin"
_LOGIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


class Refused(Exception):
    """What the wrapper will not run (exit 4, one line)."""


@dataclass(frozen=True)
class Plan:
    argv: list[str]
    env: dict[str, str]


def plan(args: Sequence[str], environ: Mapping[str, str], home: str, python: str = sys.executable) -> Plan:
    """The command line and environment of the ``deletedcalls`` run that ``args`` asks for, or Refused."""
    officer = environ.get("SUDO_USER", "")
    if not officer:
        raise Refused("deletedcalls-officer runs through sudo only (sudo -u SERVICE_USER deletedcalls-officer ...): "
                      "SUDO_USER is not set")
    if not _LOGIN.match(officer) or officer == "root":
        raise Refused(f"deletedcalls-officer: {officer[:64]!r} cannot act as an officer")
    rest = list(args)
    chosen: list[str] = []
    while rest and rest[0].startswith("-") and rest[0] not in ("--help", "-h"):
        name, eq, _ = rest[0].partition("=")
        if name not in GLOBAL_OPTIONS:
            raise Refused(f"deletedcalls-officer: option {name[:40]!r} is not allowed here "
                          f"(allowed before the command: {', '.join(GLOBAL_OPTIONS)})")
        take = 2 if GLOBAL_OPTIONS[name] and not eq else 1
        if len(rest) < take:
            raise Refused(f"deletedcalls-officer: {name} needs a value")
        chosen += rest[:take]
        rest = rest[take:]
    if rest and rest[0] in ("--help", "-h"):
        rest = ["--help"]
    elif not rest or rest[0] not in ALLOWED:
        raise Refused(f"deletedcalls-officer: {(rest[0] if rest else 'no command')[:40]!r} is not a read command an "
                      f"officer may run (allowed: {_allowed()})")
    else:
        subs = ALLOWED[rest[0]]
        if subs is not None and (len(rest) < 2 or rest[1] not in subs) and rest[1:2] != ["--help"]:
            raise Refused(f"deletedcalls-officer: {' '.join(rest[:2])[:60]!r} is not a read command an officer may run "
                          f"(allowed: {_allowed()})")
        if rest[0] == "sql":
            _check_sql(rest[1:])
    env = {"PATH": PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home,
           "DELETEDCALLS_HOME": home, "DELETEDCALLS_USER": officer}
    return Plan([python, "-I", "-m", "deletedcalls", "--home", home, *chosen, *rest], env)


def _check_sql(args: list[str]) -> None:
    """``sql --file`` reads a file as the service user: only ``-`` (stdin) is allowed."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return  # the rest is the query's text
        if arg == "--file" or arg.startswith("--file="):
            value = arg.partition("=")[2] if "=" in arg else (args[i + 1] if i + 1 < len(args) else "")
            if value != "-":
                raise Refused("deletedcalls-officer: sql --file reads only stdin here (--file -): "
                              "a file would be read as the service user")
            i += 1 if "=" in arg else 2
            continue
        i += 1


def _allowed() -> str:
    return ", ".join(f"{c} {'|'.join(sorted(s))}" if s else c for c, s in ALLOWED.items())


def main() -> None:
    """Entry point: plan, then replace this process with the ``deletedcalls`` run (its exit code is the exit code)."""
    import pwd

    try:
        home = pwd.getpwuid(os.geteuid()).pw_dir
        p = plan(sys.argv[1:], os.environ, home)
    except KeyError:
        sys.stderr.write("error: deletedcalls-officer: the service user has no entry in the password database\n")
        sys.exit(4)
    except Refused as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(4)
    os.execve(p.argv[0], p.argv, p.env)
