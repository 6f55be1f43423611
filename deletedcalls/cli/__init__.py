"""The command line: parse, call one library function, render, map errors to exit codes.

``main`` is the console entry point (``deletedcalls = "deletedcalls.cli:main"``);
``cli`` is the click group, which the tests drive with click's runner.
"""

from deletedcalls.cli.app import cli, main

__all__ = ["cli", "main"]
