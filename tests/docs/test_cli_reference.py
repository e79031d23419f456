"""docs/cli.md is generated from the CLI's help; it must match what the CLI says today."""

from __future__ import annotations

from click.testing import CliRunner

from nsbi.cli.main import cli
from tests.docs.helpers import DOCS, load_docs_script


def test_cli_reference_is_up_to_date():
    builder = load_docs_script("build_cli_reference")
    current = (DOCS / "cli.md").read_text()
    assert current == builder.render(), (
        "docs/cli.md is out of date with the CLI's help; regenerate it with "
        "`python docs/build_cli_reference.py` and commit the result"
    )


def test_cli_reference_covers_every_command_and_option():
    text = (DOCS / "cli.md").read_text()
    runner = CliRunner()
    for name, command in cli.commands.items():
        assert f"## `nsbi {name}`" in text
        help_text = runner.invoke(cli, [name, "--help"]).output
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("-"):
                    assert option in help_text
                    assert f"`{option}" in text or f", {option}" in text, (name, option)


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    builder = load_docs_script("build_cli_reference")
    stale = tmp_path / "cli.md"
    stale.write_text("# old\n")
    assert builder.main(["--check", "--output", str(stale)]) == 1
    assert "python docs/build_cli_reference.py" in capsys.readouterr().out
    assert builder.main(["--output", str(stale)]) == 0
    assert builder.main(["--check", "--output", str(stale)]) == 0
