"""The leaderboard table (harness.reporting.leaderboard)."""


def test_the_best_ths_is_per_model():
    from harness.reporting.leaderboard import is_best_ths
    rows = [{"model": "a", "ths": 0.1}, {"model": "a", "ths": 0.3}, {"model": "b", "ths": 0.2}]
    assert [is_best_ths(r, rows) for r in rows] == [False, True, True]
    tied = [{"model": "a", "ths": 0.0} for _ in range(4)] + [{"model": "a", "ths": None}]
    assert not any(is_best_ths(r, tied) for r in tied)            # four tied THS of 0.0: no best
    assert [is_best_ths(r, tied + [{"model": "a", "ths": 0.01}]) for r in tied[:1]] == [False]
