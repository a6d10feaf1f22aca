"""Running ``hyperviz`` commands in-process from a test."""
from hyperviz.cli import main


def run(capsys, *argv):
    """``hyperviz ARGV`` (each argument as text): ``(exit code, stdout, stderr)``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
