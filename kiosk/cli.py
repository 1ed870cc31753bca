"""The ``kiosk`` command.

Commands that need the database run inside an app context (``_app()``); commands that
only look at files (``qc``, ``normalize``) do not create an app at all.
"""
from __future__ import annotations

import click

from capture.cli import normalize_command
from qc.cli import qc_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """毕业照采集服务 / graduation-photo kiosk service."""


main.add_command(qc_command, "qc")
main.add_command(normalize_command, "normalize")
