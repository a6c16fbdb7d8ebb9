"""The run as a graph (harness.run.graph): every schedule is in an order its declared inputs allow,
and the critical path and the wall time on N workers are worked out by hand on a small graph."""
import pytest

from harness.methods import METHODS
from harness.run.graph import check_order, critical_path, edges, makespan, schedule_lines
from harness.run.stage import Stage, unique
from harness.schedule import schedule
from harness.tasks import expand


def test_every_schedule_reads_only_stages_that_come_before_and_exist():
    tasks = expand(["core", "side-effects", "geo_city"])
    for seeds in [(None,), (None, 1, 2)]:
        stages = unique(schedule(list(METHODS), tasks, list(seeds)))
        check_order(stages)
        names = {s.name for s in stages}
        assert all(i in names for s in stages for i in s.inputs)
        assert edges(stages)["eval/craft/triviaqa"] == ("tests/triviaqa", "open/craft/train")
    plain, sharded = unique(schedule(list(METHODS), tasks)), unique(schedule(list(METHODS), tasks, shards=2))
    check_order(sharded)                                                    # --data-parallel 2
    assert edges(sharded)["open/query_rehearsed"] == ("shards/open/query_rehearsed/1of2",
                                                       "shards/open/query_rehearsed/2of2")
    assert edges(sharded)["shards/choice/query_m0/2of2"] == ("choice/pool",)
    split = [s.name for s in plain if s.name.endswith(("/query_m0", "/query_rehearsed")) or s.name.startswith("eval/")]
    assert {s.name for s in sharded} - {s.name for s in plain} == {f"shards/{n}/{i}of2" for n in split for i in (1, 2)}
    with pytest.raises(ValueError, match="b reads a, which come after it"):
        check_order([Stage("b", None, inputs=("a",)), Stage("a", None)])


def _graph():
    #   a(1) -> b(5) -> d(1)
    #   a    -> c(2) -> d
    #   e(4)
    return [Stage("a", None), Stage("b", None, inputs=("a",)), Stage("c", None, inputs=("a",)),
            Stage("d", None, inputs=("b", "c")), Stage("e", None)]


SECONDS = {"a": 1, "b": 5, "c": 2, "d": 1, "e": 4}


def test_the_critical_path_is_the_longest_chain():
    assert critical_path(_graph(), SECONDS) == (7, ["a", "b", "d"])


def test_the_wall_time_on_n_workers():
    stages = _graph()
    assert makespan(stages, SECONDS, 1) == 13                  # one process: the sum
    assert makespan(stages, SECONDS, 2) == 7                    # a,e | b,c | d: the critical path
    assert makespan(stages, SECONDS, 8) == 7
    text = " ".join(schedule_lines(stages, {k: 3600 * v for k, v in SECONDS.items()}, 2, "by hand"))
    assert "one process 13.00 h; critical path 7.00 h (3 stages: a -> b -> d)" in text
    assert "on 2 workers" in text and "7.00 h, 1.9x faster" in text
