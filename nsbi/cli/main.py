"""The ``nsbi`` command group. Each command lives in the module of its topic and is load ->
one library call -> print/write/plot; errors become exit codes in :class:`~nsbi.cli.common.Commands`.

Exit codes: 0 success; 1 a failure while running (e.g. a fit that cannot be set up);
2 bad input (an invalid workspace, a bad option).
"""

from __future__ import annotations

import click

from nsbi._version import __version__
from nsbi.cli.belts import belt_command
from nsbi.cli.common import DEBUG_VARIABLE, Commands
from nsbi.cli.fitting import fit_command
from nsbi.cli.hypotheses import cls_command, limit_command, significance_command
from nsbi.cli.learning import diagnose_command, train_command
from nsbi.cli.spec import inspect_command, validate_command
from nsbi.cli.statistic import train_statistic_command

__all__ = ["cli"]


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nsbi")
@click.option(
    "--debug",
    is_flag=True,
    help=f"Show the Python traceback of an error (or set {DEBUG_VARIABLE}=1).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """nsbi: neural simulation-based inference beside pyhf binned models."""
    ctx.meta["nsbi.debug"] = debug


for _command in (
    validate_command,
    fit_command,
    train_command,
    diagnose_command,
    belt_command,
    cls_command,
    significance_command,
    limit_command,
    train_statistic_command,
    inspect_command,
):
    cli.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    cli()
