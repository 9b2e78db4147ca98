"""The README cannot lie: every `acecurate ...` line of its shell blocks runs here, in order, on small data laid out
under the paths it names (a line that needs a model, a GPU or a finished eval run is parsed with `--help` after its
options, so an option that does not exist still fails), and its stage table is the one made from `STAGES`."""

import json
import re
import shlex
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from acecurate.cli import app, stages_markdown
from acecurate.verify.policy import GradingPolicy

from .conftest import REPO, needs_bwrap, write_jsonl

README = (REPO / "README.md").read_text()
runner = CliRunner()


def readme_commands() -> list[str]:
    """Every `acecurate` command line of the README's bash blocks, continuation lines joined, comments cut."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["acecurate"]:
                commands.append(" ".join(shlex.quote(w) for w in words))
    return commands


def needs_a_model(words: list[str]) -> bool:
    """A sampling model or an eval run is what this machine cannot give a README line (no hub, no GPU)."""
    return any("sampler.model=" in w for w in words) or (words[1:2] == ["eval"] and words[2:3] != ["list"])


MATH = [
    {"id": "m1", "problem": "What is $15\\%$ of $80$?", "answer": "12"},
    {"id": "m2", "problem": "Compute $7 \\times 8 + 3$.", "answer": "59"},
    {"id": "m3", "problem": "What is the sum of the first $10$ positive integers?", "answer": "55"},
    {"id": "m4", "problem": "Which of the following is prime? (A) 21 (B) 27 (C) 29 (D) 33", "answer": "C"},
]
CODE = [json.loads(line) for line in (REPO / "examples/code_sample.jsonl").read_text().splitlines()]


@pytest.fixture
def readme_dir(tmp_path, monkeypatch):
    """The files the README's lines name, each small and real."""
    (tmp_path / "dumps/code").mkdir(parents=True)
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    pd.DataFrame(MATH[:2]).to_parquet(tmp_path / "dumps/numina.parquet")
    pd.DataFrame(MATH).to_parquet(tmp_path / "dumps/math.parquet")
    (tmp_path / "dumps/deepscaler.json").write_text(json.dumps(MATH[1:]))
    write_jsonl(tmp_path / "dumps/code/a.jsonl", CODE[:5])
    write_jsonl(tmp_path / "dumps/code/b.jsonl", CODE[5:])
    write_jsonl(tmp_path / "olympiad.jsonl", [{"question": r["problem"], "final_answer": [r["answer"]]} for r in MATH])
    write_jsonl(tmp_path / "in.jsonl", MATH)
    write_jsonl(tmp_path / "dumps/mixed.jsonl", MATH + CODE[:2])
    write_jsonl(tmp_path / "dumps/a.jsonl", MATH[:3])
    pd.DataFrame(MATH[1:]).to_parquet(tmp_path / "dumps/b.parquet")
    write_jsonl(tmp_path / "dumps/math.jsonl", MATH)
    write_jsonl(tmp_path / "my_eval.jsonl", [{"problem": "What is the sum of the first $10$ positive integers?", "answer": "55"}])
    (tmp_path / "dumps/leetcode.json").write_text(json.dumps(CODE))
    (tmp_path / "sol.py").write_text("a, b = map(int, input().split())\nprint(a + b)\n")
    (tmp_path / "tests.json").write_text(json.dumps([{"input": "1 2\n", "output": "3\n"}, {"input": "2 2\n", "output": "4\n"}]))
    # one line of a stage's rollouts.jsonl, whose policy record `verify --policy` grades under
    rollout = {"prompt_id": "p1", "reward": 1.0, "completion": "... </think> \\boxed{4}", "policy": GradingPolicy().to_dict()}
    (tmp_path / "rollout.json").write_text(json.dumps(rollout))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_shows_commands():
    commands = readme_commands()
    # the parser is real: the lines of the Use section are there, comments cut, continuation lines joined
    assert "acecurate export curated/math --format verl --out exports/math-verl" in commands
    assert any(c.startswith("acecurate filter dumps/math.parquet") and "response-length.sampler.model" in c for c in commands)
    assert len(commands) > 25


@needs_bwrap
@pytest.mark.slow
def test_every_readme_command_runs(readme_dir):
    # Before: the README showed `--set math.max_answer_chars=64`, a ConfigError.
    for command in readme_commands():
        words = shlex.split(command)
        if "--labels" in words:  # the labels of the sheet the line before drew, as a user would mark them
            sheet = (readme_dir / "curated/math/audit/sheet.jsonl").read_text().splitlines()
            write_jsonl(readme_dir / "labels.jsonl", [{"sample_id": json.loads(s)["sample_id"], "label": "right"} for s in sheet])
        args = words[1:] + (["--help"] if needs_a_model(words) else [])
        result = runner.invoke(app, args)
        # verify exits 1 for a wrong answer; the README's examples are right ones
        assert result.exit_code == 0, f"{command}\n{result.output}"
    assert (readme_dir / "exports/math-verl/train.parquet").exists() and (readme_dir / "runs/decontam/README.md").exists()


def test_stage_table_is_made_from_the_stage_list():
    table = README.split("<!-- generated from acecurate.stages.STAGES", 1)[1].split("-->", 1)[1].split("<!-- end of the generated")[0]
    assert table.strip() == stages_markdown()
    result = runner.invoke(app, ["stages", "--markdown"])
    assert result.exit_code == 0 and stages_markdown() in result.output


def test_cpu_only_install_names_pytorchs_cpu_index():
    # Before: "pip install torch" for CPU machines, which on Linux fetches a CUDA build from the package index.
    cpu_index = "--index-url https://download.pytorch.org/whl/cpu"
    assert f"pip install torch {cpu_index}" in README and f"make test TORCH_INDEX={cpu_index.split()[1]}" in README
    import subprocess

    def torch_line(*variables) -> str:
        dry = subprocess.run(
            ["make", "-n", "-B", "-C", str(REPO), "VENV=/nonexistent-venv", "/nonexistent-venv/.train", *variables],
            capture_output=True,
            text=True,
        )
        return next(line for line in dry.stdout.splitlines() if "pip install -q torch==" in line)

    # the Makefile takes the CPU index when told, and without it leaves pip's own sources (a local wheel here) alone
    assert torch_line(f"TORCH_INDEX={cpu_index.split()[1]}").endswith(f"torch==2.13.0 {cpu_index}")
    assert "--index-url" not in torch_line()
