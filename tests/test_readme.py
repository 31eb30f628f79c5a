"""Every Python example in the README runs."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README should show the Python API"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert "(" in capsys.readouterr().out


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```\w*\n(.*?)```", README.read_text(), flags=re.S).group(1)
    lines = [line for line in first_block.splitlines() if line.strip() and not line.startswith("#")]
    assert lines == ["./dev.sh demo", "./dev.sh test"]
    assert "./dev.sh test" in (README.parent / ".ci" / "run").read_text()
