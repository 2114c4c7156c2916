"""The self-check engine rejects every kind of wrong answer with a readable message."""
import numpy as np
import pytest

from course_utils.checks import Case, CheckFailed, check, compare, register, run_check


def good_standardize(x):
    return (x - x.mean(axis=0)) / x.std(axis=0)


def test_accepts_correct_answer():
    result = run_check("00.standardize", good_standardize)
    assert result.passed and result.n_cases == 6 and "passed all 6" in result.message


@pytest.mark.parametrize("answer, expected_text", [
    (lambda x: good_standardize(x).T, "wrong shape: expected (3, 2), got (2, 3)"),
    (lambda x: (x - x.mean()) / x.std(), "wrong value"),
    (lambda x: x * np.nan, "got NaN at index (0, 0)"),
    (lambda x: x["oops"], "raised IndexError"),
    (lambda x: None, "got None"),
    (lambda x: "text", "expected a number or array"),
])
def test_rejects_each_kind_of_wrong_answer(answer, expected_text):
    result = run_check("00.standardize", answer)
    assert not result.passed
    assert expected_text in result.message
    assert "Hint:" in result.message
    assert "x.mean(axis=0)" not in result.message  # never the solution code


def test_not_implemented_and_not_callable():
    def todo(x):
        raise NotImplementedError()

    assert "not implemented yet" in run_check("00.standardize", todo).message
    assert "expected a function" in run_check("00.standardize", 42).message


def test_too_slow_is_interrupted():
    register("99.slow_demo", time_limit=0.2)(lambda rng: [Case((1,), expected=1)])

    def forever(x):
        while True:
            pass

    result = run_check("99.slow_demo", forever)
    assert not result.passed and "took longer than 0.2 s" in result.message
    assert result.seconds < 5


def test_time_limit_also_works_off_the_main_thread():
    import threading

    register("99.slow_thread", time_limit=0.2)(lambda rng: [Case((1,), expected=1)])
    out = {}

    def forever(x):
        import time
        time.sleep(3)

    t = threading.Thread(target=lambda: out.setdefault("r", run_check("99.slow_thread", forever)))
    t.start()
    t.join(10)
    assert "took longer" in out["r"].message


def test_randomized_cases_are_seeded():
    seen = []

    def spy(x):
        seen.append(x.shape)
        return good_standardize(x)

    run_check("00.standardize", spy)
    first = list(seen)
    seen.clear()
    run_check("00.standardize", spy)
    assert seen == first and len(set(first)) > 2


def test_unknown_exercise_lists_known_ones():
    with pytest.raises(KeyError, match="00.accuracy"):
        run_check("00.acuracy", len)


def test_check_prints_and_raises_only_when_grading(monkeypatch, capsys):
    check("00.accuracy", lambda a, b: 0.0)
    assert "✗ 00.accuracy" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(CheckFailed):
        check("00.accuracy", lambda a, b: 0.0)
    check("00.accuracy", lambda a, b: float(np.mean(np.asarray(a) == np.asarray(b))))


def test_compare_handles_tensors_and_containers():
    import torch

    assert compare(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0])) is None
    assert "item 1" in compare((1.0, 2.0), (1.0, 3.0))
    assert "missing key" in compare({"a": 1}, {"a": 1, "b": 2})
    assert "infinite" in compare(np.inf, 1.0)
    assert compare(1.0 + 1e-9, 1.0) is None
