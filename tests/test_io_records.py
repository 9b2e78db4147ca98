"""Readers and adapters: every supported layout maps to the canonical row; bad input gives one clear error."""

import json

import pandas as pd
import pytest

from acecurate.errors import InputError
from acecurate.io import read_records, write_parquet
from acecurate.records import canonical_tests, last_boxed, load_inputs, parse_mapping

from .conftest import write_jsonl


def test_jsonl_json_parquet_csv_read_the_same_rows(tmp_path):
    rows = [{"problem": "What is 1+1?", "answer": "2"}, {"problem": "What is 2+2?", "answer": "4"}]
    write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "b.json").write_text(json.dumps(rows))
    (tmp_path / "c.json").write_text(json.dumps({"problem": [r["problem"] for r in rows], "answer": [r["answer"] for r in rows]}))
    write_parquet(tmp_path / "d.parquet", pd.DataFrame(rows))
    pd.DataFrame(rows).to_csv(tmp_path / "e.csv", index=False)
    for name in ["a.jsonl", "b.json", "c.json", "d.parquet", "e.csv"]:
        assert read_records(tmp_path / name) == rows, name


@pytest.mark.parametrize(
    "content, expected",
    [
        (b'{"problem": "x", "answer": "1"}\n{"problem": "y", "answer": \n', "line 2"),  # truncated second line
        (b'{"problem": "x"}\n[1, 2]\n', "line 2"),  # a line that is not an object
        (b'{"problem": "caf\xe9"}\n', "line 1"),  # Latin-1 byte, not UTF-8
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path, content, expected):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_records(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_empty_file_and_unknown_suffix(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_records(tmp_path / "empty.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match="unsupported file type"):
        read_records(tmp_path / "x.txt")


def test_missing_problem_column_lists_the_columns(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"query": "What?", "answer": "1"}])
    with pytest.raises(InputError) as err:
        load_inputs([str(path)])
    assert "query" in str(err.value) and "answer" in str(err.value)


def test_map_option_and_unmapped_fields_go_to_meta(tmp_path):
    path = write_jsonl(tmp_path / "olymp.jsonl", [{"question": "Find n.", "final_answer": ["$4$"], "subfield": "NT"}])
    frame = load_inputs([str(path)], mapping=parse_mapping("problem=question,answer=final_answer")).frame
    row = frame.iloc[0]
    assert row["problem"] == "Find n." and row["answer"] == "4"
    assert json.loads(row["meta"]) == {"subfield": "NT"}


def test_solution_layout_takes_last_top_level_box(tmp_path):
    # NuminaMath/MATH layout: the answer is the last \boxed{} of the solution, nested braces intact.
    path = write_jsonl(tmp_path / "numina.jsonl", [{"problem": "p", "solution": "first \\boxed{1}, then \\boxed{\\frac{1}{2}}."}])
    assert load_inputs([str(path)]).frame.iloc[0]["answer"] == "\\frac{1}{2}"
    assert last_boxed("\\boxed{12") is None  # truncated box is no answer


def test_code_layouts():
    # rllm LeetCode: a check function
    t = canonical_tests({"functional": "def check(candidate):\n    assert candidate(n=1) == 12\n\ncheck(Solution().numOfWays)"})
    assert t["format"] == "assert" and t["fn_name"] == "Solution().numOfWays"
    # LiveCodeBench functional: fn_name from starter code; Python-literal string input accepted
    t = canonical_tests(
        "[{'input': '[1, 2]', 'output': '3', 'testtype': 'functional'}]", starter_code="class Solution:\n    def addAll(self, nums): ..."
    )
    assert t == {"format": "functional", "fn_name": "addAll", "cases": [{"input": "[1, 2]", "output": "3"}]}
    # code_contests {input: [...], output: [...]}
    t = canonical_tests({"input": ["1\n"], "output": ["2\n"]})
    assert t == {"format": "stdin", "cases": [{"input": "1\n", "output": "2\n"}]}
    # APPS/TACO input_output with fn_name: arguments per line as JSON, [ret] unwrapped
    t = canonical_tests(json.dumps({"inputs": [[1, 2]], "outputs": [[3]], "fn_name": "add"}))
    assert t == {"format": "functional", "fn_name": "add", "cases": [{"input": "1\n2", "output": "3"}]}
    with pytest.raises(ValueError):
        canonical_tests([{"input": "1"}])


def test_bad_tests_name_row_and_column(tmp_path):
    path = write_jsonl(
        tmp_path / "code.jsonl",
        [
            {"problem": "ok", "tests": [{"input": "1", "output": "1"}]},
            {"problem": "bad", "tests": "not json {"},
        ],
    )
    with pytest.raises(InputError) as err:
        load_inputs([str(path)])
    assert "line 2" not in str(err.value) and "row 2," in str(err.value) and "column 'tests'" in str(err.value)  # 1-based, like lines


@pytest.mark.parametrize(
    "rows, expected",
    [
        # a row whose problem is no text, before a row with unreadable tests: the problem's row is named
        (
            [{"problem": "a", "tests": "[]"}, {"problem": 3, "tests": "[]"}, {"problem": "b", "tests": "not json {"}],
            "row 2, column 'problem'",
        ),
        # unreadable tests before a row whose problem is no text: the tests' row is named
        ([{"problem": "a", "tests": "not json {"}, {"problem": None, "tests": "[]"}], "row 1, column 'tests'"),
        # one row, both wrong: its problem is checked first
        ([{"problem": "a", "tests": "[]"}, {"problem": ["x"], "tests": "not json {"}], "row 2, column 'problem'"),
        # a bad time limit after good tests, before a later row's bad problem
        ([{"problem": "a", "tests": "[]", "time_limit_s": -1}, {"problem": 2, "tests": "[]"}], "row 1, column 'time_limit_s'"),
    ],
)
def test_the_first_bad_row_is_named_whichever_column_is_wrong(tmp_path, rows, expected):
    # Rows are adapted a column at a time; the error must still be the one a row-by-row reading meets first.
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    with pytest.raises(InputError) as err:
        load_inputs([str(path)])
    assert str(err.value).startswith(f"{path}, {expected}:")


def test_meta_is_the_json_of_the_unmapped_fields(tmp_path):
    # meta is joined from per-value encodings: it must equal json.dumps of the fields (floats, specials, escapes,
    # nesting, field order) exactly, for every row, rows with other fields among them.
    fields = {
        "difficulty": 5.0,
        "nan": float("nan"),
        "inf": float("-inf"),
        "flag": True,
        "none": None,
        "big": 10**30,
        "text": 'é "quoted"\n\u0001\u2028',
        "nested": [1, {"a": 2.5, "b": [None, False]}],
        "empty": {},
    }
    rows = [{"problem": "p", "answer": "1", **fields}, {"zeta": "z", "problem": "q", "answer": "2", "alpha": 1}]
    path = tmp_path / "meta.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    metas = load_inputs([str(path)]).frame["meta"].tolist()
    assert metas == [json.dumps(fields, ensure_ascii=False), json.dumps({"zeta": "z", "alpha": 1}, ensure_ascii=False)]


def test_shared_raw_dumps_all_load(shared_data):
    expected = {
        "rllm_math_train": 7474,
        "deepscaler_aime_1983_2023": 975,
        "rllm_leetcode": 1890,
        "rllm_livecodebench_train": 580,
        "rllm_codeforces": 408,
        "rllm_code_contests": 165,
    }
    for name, count in expected.items():
        frame = load_inputs([str(shared_data / "raw" / f"{name}.json")]).frame
        assert len(frame) == count
        if frame["domain"].iat[0] == "code":
            formats = {json.loads(t)["format"] for t in frame["tests"]}
            assert formats <= {"stdin", "functional", "assert"}


def test_compressed_dumps_are_read_as_they_circulate(tmp_path):
    import gzip

    import pyarrow as pa

    rows = [{"problem": "What is 1+1?", "answer": "2"}, {"problem": "What is 2+2?", "answer": "4"}]
    lines = "".join(json.dumps(r) + "\n" for r in rows).encode()
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(lines))
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(json.dumps(rows).encode()))
    (tmp_path / "c.jsonl.zst").write_bytes(pa.Codec("zstd").compress(lines, asbytes=True))
    for name in ["a.jsonl.gz", "b.json.gz", "c.jsonl.zst"]:
        assert read_records(tmp_path / name) == rows, name
    # the source is the name without its format and compression suffixes
    assert set(load_inputs([str(tmp_path / "a.jsonl.gz")]).frame["source"]) == {"a"}
    # a compressed file under a plain name says so (read as text it was junk)
    (tmp_path / "plain.jsonl").write_bytes(gzip.compress(lines))
    with pytest.raises(
        InputError, match=r"plain.jsonl: the file is gzip-compressed, but its name does not say so: rename it plain.jsonl.gz"
    ):
        read_records(tmp_path / "plain.jsonl")


def test_parquet_shards_in_a_folder_or_a_glob_are_one_source(tmp_path):
    rows = [{"problem": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(6)]
    (tmp_path / "data").mkdir()
    for k in range(3):
        write_parquet(tmp_path / f"data/train-0000{k}-of-00003.parquet", pd.DataFrame(rows[2 * k : 2 * k + 2]))
    (tmp_path / "data/README.md").write_text("a dataset card, not a shard")
    for argument in [str(tmp_path / "data"), str(tmp_path / "data/train-*.parquet")]:
        frame = load_inputs([argument]).frame
        # every shard, in name order, numbered on from the shard before
        assert frame["problem"].tolist() == [r["problem"] for r in rows] and frame["source_row"].tolist() == [1, 2, 3, 4, 5, 6]
        assert frame["source"].nunique() == 1 and frame["id"].nunique() == 6
    assert set(load_inputs([str(tmp_path / "data")]).frame["source"]) == {"data"}
    assert set(load_inputs([str(tmp_path / "data/train-*.parquet")]).frame["source"]) == {"train"}
    with pytest.raises(InputError, match="no file matches this pattern"):
        load_inputs([str(tmp_path / "data/test-*.parquet")])


def test_malformed_csv_is_an_error_naming_its_line(tmp_path):
    # an unterminated quote: a lenient reader makes one row of the rest of the file
    (tmp_path / "bad.csv").write_text('problem,answer\nWhat is 1+1?,2\n"What is 2+2?,4\nWhat is 3+3?,6\n')
    with pytest.raises(InputError, match=r"bad.csv, line 3: not valid CSV \(a quoted field opened on this line is never closed\)"):
        read_records(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text("problem,answer,source\nWhat is 1+1?,2\n")
    with pytest.raises(InputError, match=r"short.csv, line 2: 1 field\(s\) fewer than the header has"):
        read_records(tmp_path / "short.csv")


def test_a_dump_read_in_chunks_loads_as_it_would_whole(tmp_path, monkeypatch):
    # Chunks of 2 rows. `answer` (preferred over `final_answer`) first appears in row 3, so a reader that picked the
    # fields from the first chunk alone would read rows 1-2's gold answers from `final_answer`; reading whole picks
    # `answer` for every row (rows 1-2 have none, and keep `final_answer` in meta).
    rows = [{"problem": f"What is {i} + {i}?", "final_answer": str(2 * i)} for i in range(2)]
    rows += [{"problem": f"What is {i} + {i}?", "answer": str(2 * i), "final_answer": "x"} for i in range(2, 5)]
    path = tmp_path / "late.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    whole = load_inputs([str(path)]).frame
    monkeypatch.setattr("acecurate.io.CHUNK_ROWS", 2)
    chunked = load_inputs([str(path)]).frame
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked["answer"].isna().tolist() == [True, True, False, False, False]
    assert json.loads(chunked["meta"].iat[0]) == {"final_answer": "0"}
    assert chunked["source_row"].tolist() == [1, 2, 3, 4, 5]
