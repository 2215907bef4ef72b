"""The installed `vggrpo` console script, as a user runs it."""
import subprocess
import sys

import vggrpo
from vggrpo.cli import COMMANDS, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "vggrpo.cli", *args], capture_output=True, text=True)


def test_help_lists_usage():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "usage: vggrpo" in result.stdout
    for name in COMMANDS:
        assert name in result.stdout


def test_version_matches_package():
    result = run_cli("--version")
    assert result.returncode == 0 and vggrpo.__version__ in result.stdout


def test_unknown_command_is_a_clear_error():
    result = run_cli("definitely-not-a-command")
    assert result.returncode == 2
    assert "unknown command 'definitely-not-a-command'" in result.stderr


def test_every_registered_command_has_help():
    for name in COMMANDS:
        try:
            main([name, "--help"])
        except SystemExit as stop:
            assert stop.code == 0, name
