"""The Python API (harness.api): the bench's rows as DataFrames."""
import json

import pytest
from support.scripted import write_data, write_script

from harness import api


def test_the_notebook_api_returns_dataframes_and_leaves_the_cli_table_alone(tmp_path):
    data, out = write_data(tmp_path / "data"), tmp_path / "out"
    rows = api.bench(["init-refuse"], ["triviaqa"], model=write_script(tmp_path / "s.json"), out=out,
                     engine="fake", data_dir=str(data), limit=3)
    assert list(rows.method) == ["init-basic", "init-refuse"] and set(rows.n) == {3}
    assert not (out / "leaderboard.json").exists()
    recs = api.records(rows.run[0], out=out)
    assert len(recs) == 6 and {"method", "seed", "task", "id", "class"} <= set(recs.columns)
    share = recs[recs.method == "init-refuse"]["class"].value_counts(normalize=True)
    assert share.get("correct", 0) == pytest.approx(rows.set_index("method").loc["init-refuse", "pc"])
    lm = json.loads((out / "runs" / rows.run[0] / "eval" / "init-refuse" / "triviaqa" / "lm_eval_results.json").read_text())
    assert lm["results"]["rait_triviaqa"]["correct,none"] == pytest.approx(rows.set_index("method").loc["init-refuse", "pc"])
    table = api.publish(rows.run.unique(), tmp_path / "pub", out=out, resamples=20)
    assert (tmp_path / "pub" / "leaderboard.md").exists() and list(table.method) == ["init-basic", "init-refuse"]
    with pytest.raises(FileNotFoundError, match="neither a run directory"):
        api.records("nope", out=out)
