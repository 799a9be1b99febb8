"""Entry point of the ``replikv`` command: a click group whose sub-commands live in
their own modules (``sim_cmd``, ``check_cmd``, ``serve_cmd``, ``cluster_cmd``,
``bench_cmd``, ``test_cmd``), imported when the group is built."""

from __future__ import annotations

import importlib

import click

from replikv import __version__

_COMMAND_MODULES = (
    "replikv.cli.sim_cmd",
    "replikv.cli.check_cmd",
    "replikv.cli.serve_cmd",
    "replikv.cli.cluster_cmd",
    "replikv.cli.bench_cmd",
    "replikv.cli.test_cmd",
    "replikv.cli.compare_cmd",
    "replikv.cli.explain_cmd",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="replikv")
def cli() -> None:
    """replikv: one replicated key-value store, every replication scheme a flag.

    Run a scheme in the deterministic simulator (sim), check a history (check), serve a
    real node (serve), run a local cluster (cluster), measure (bench), test a real
    cluster under faults (test).
    """


def _register() -> None:
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that command is not built yet
            raise
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="replikv")
