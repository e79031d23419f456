"""The options the ``nsbi`` commands share, each defined once.

Each is a decorator (``@measurement_option``) or, where the help names what the command writes
or its default differs, a function returning one (``@output_option("the belt")``).
"""

from __future__ import annotations

from pathlib import Path

import click

from nsbi.cli.common import FINITE, ordered_range

__all__ = [
    "workspace_argument",
    "measurement_option",
    "output_option",
    "plot_option",
    "quiet_option",
    "seed_option",
    "toys_option",
    "scheduler_option",
    "workers_option",
    "interpolation_option",
    "allow_stale_option",
    "calculator_option",
    "test_stat_option",
    "only_option",
    "range_option",
    "statistic_output_option",
]

#: ``WORKSPACE``: the workspace's JSON file
workspace_argument = click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))

measurement_option = click.option(
    "--measurement", default=None, help="Measurement to use (default: the first)."
)

allow_stale_option = click.option(
    "--allow-stale",
    is_flag=True,
    help="Use ratio models trained on other events than the workspace's (an ntuple, selection "
    "or weight changed since `nsbi train`); refused by default.",
)

interpolation_option = click.option(
    "--interpolation",
    multiple=True,
    metavar="TYPE=CODE",
    help="Interpolation code per modifier type, e.g. normsys=code1 histosys=code0 (the "
    "ROOT-era codes); default: the measurement's, else pyhf's (code4, code4p). Repeatable.",
)

calculator_option = click.option(
    "--calculator",
    type=click.Choice(["asymptotics", "toys"]),
    default="asymptotics",
    show_default=True,
    help="Asymptotic formulae (CCGV) or pseudo-experiments (batched fits).",
)

test_stat_option = click.option(
    "--test-stat", type=click.Choice(["qtilde", "q"]), default="qtilde", show_default=True
)

workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Workers of the local Dask cluster (default: one per core).",
)


#: ``--output DIR`` of ``nsbi train-statistic``: where the trained network goes
statistic_output_option = click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the trained statistic (safetensors + JSON; replaced atomically).",
)


def output_option(what: str = "the result"):
    """``--output FILE``: write ``what`` as JSON, atomically."""
    return click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Write {what} as JSON (atomically).",
    )


def plot_option(what: str = "figures (PNG and PDF)"):
    """``--plot DIR``: write ``what`` into a folder."""
    return click.option(
        "--plot",
        "plot_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Write {what} into this folder.",
    )


def quiet_option(what: str = "Print nothing but errors."):
    """``--quiet``/``-q``."""
    return click.option("--quiet", "-q", is_flag=True, help=what)


def seed_option(what: str = "the toys"):
    """``--seed N`` (default 0)."""
    return click.option("--seed", type=int, default=0, show_default=True, help=f"Seed of {what}.")


def toys_option(default: int, minimum: int = 10, help: str | None = None):
    """``--toys N``: pseudo-experiments."""
    return click.option(
        "--toys",
        type=click.IntRange(min=minimum),
        default=default,
        show_default=True,
        help=help or "Pseudo-experiments per hypothesis (--calculator toys).",
    )


def scheduler_option(default: str | None, help: str):
    """``--scheduler local|ADDRESS``: where Dask runs the work."""
    return click.option(
        "--scheduler",
        default=default,
        show_default=default is not None,
        metavar="local|serial|ADDRESS" if default == "local" else "local|ADDRESS",
        help=help,
    )


def only_option(help: str):
    """``--only NAME`` (repeatable): a sample with its learned variations, or one ensemble."""
    return click.option("--only", multiple=True, metavar="NAME", help=help)


def range_option(name: str, dest: str, help: str):
    """``--NAME LO HI`` with finite LO < HI."""
    return click.option(
        name,
        dest,
        type=FINITE,
        nargs=2,
        callback=ordered_range,
        default=None,
        metavar="LO HI",
        help=help,
    )
