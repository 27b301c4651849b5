import subprocess
import sys


def test_unknown_subcommand_exits_2_with_message() -> None:
    proc = subprocess.run([sys.executable, "-m", "bots.cli", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr or "nope" in proc.stderr
