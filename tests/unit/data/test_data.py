
import pytest
from harness.tasks import module

from harness.data.load import load_items, load_rows, to_item
from harness.run.io import write_jsonl


def test_missing_offline_file_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_rows("triviaqa", "validation", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "triviaqa" / "validation.jsonl") in msg
    assert "--data-dir" in msg and "HARNESS_DATA_DIR" in msg


def test_no_data_dir_offline_says_how_to_point_at_data(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_rows("mmlu", "validation", None)


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="triviaqa, nq_open, mmlu, arc_challenge"):
        load_rows("squad", "train", None)
    with pytest.raises(ValueError, match="dev, validation, test"):
        load_rows("mmlu", "train", None)


def test_malformed_line_names_file_and_line(tmp_path):
    (tmp_path / "nq_open").mkdir()
    (tmp_path / "nq_open" / "validation.jsonl").write_text('{"question": "q", "answer": ["a"]}\n{oops\n')
    with pytest.raises(ValueError, match=r"validation.jsonl: line 2"):
        load_rows("nq_open", "validation", tmp_path)


def test_items_from_hf_layout_rows(tmp_path):
    tq = {"question_id": "tc_9", "question": "Q", "answer": {"value": "Paris", "aliases": ["Paris", "Paree"]}}
    assert to_item("triviaqa", "train", 0, tq) == {"id": "tc_9", "question": "Q",
                                                   "aliases": ["Paris", "Paree"], "answer": "Paris"}
    mm = {"question": "Q", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 2}
    item = to_item("mmlu", "test", 7, mm)
    assert item["gold"] == "C" and item["id"] == "mmlu/anatomy/test/7"
    arc = {"id": "x1", "question": "Q", "choices": {"text": ["a", "b", "c"], "label": ["1", "2", "3"]},
           "answerKey": "2"}
    assert to_item("arc_challenge", "test", 0, arc)["gold"] == "B"
    write_jsonl(tmp_path / "nq_open" / "validation.jsonl", [{"question": "q", "answer": ["x", "y"]}])
    assert load_items("nq_open", "validation", tmp_path)[0]["aliases"] == ["x", "y"]


answers = module("triviaqa").answers


def test_triviaqa_answers_are_the_codes_list():
    ans = {"value": "York", "normalized_value": "york", "aliases": ["York", "City of York"],
           "normalized_aliases": ["york", "city of york"]}
    assert answers(ans) == ["York", "york", "City of York", "city of york"]
    assert answers({"value": None, "aliases": ["Scorpio"], "normalized_aliases": ["scorpio"],
                             "normalized_value": None}) == ["Scorpio", "scorpio"]
