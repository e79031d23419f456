"""``python -m nsbi``: the ``nsbi`` command."""

from nsbi.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="nsbi")
