"""The self-check engine rejects every kind of wrong answer with a readable message."""
import numpy as np
import pytest

from course_utils.checks import Case, CheckFailed, Mistake, check, compare, passed, register, run_check, use_mine
from course_utils.checks import _core


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
    (lambda x: "text", "expected np.ndarray"),
])
def test_rejects_each_kind_of_wrong_answer(answer, expected_text):
    result = run_check("00.standardize", answer)
    assert not result.passed
    assert expected_text in result.message
    if expected_text == "expected np.ndarray":  # the type message carries its own fix, no value hint
        assert "returned a str" in result.message
    else:
        assert "Hint:" in result.message or "Likely mistake:" in result.message
    assert "x.mean(axis=0)" not in result.message  # never the solution code


def test_in_place_modification_gets_its_fix_and_no_unrelated_hint():
    def centre_in_place(x):
        x -= x.mean(axis=0)
        return x / x.std(axis=0)

    result = run_check("00.standardize", centre_in_place)
    assert not result.passed and "in place" in result.message and "Hint:" not in result.message


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


# ============================================================================= engine v2
@pytest.fixture
def scratch():
    """Register throwaway specs under 99.*; remove them and their per-kernel state afterwards."""
    made = []

    def reg(exercise, cases, **options):
        register(exercise, **options)(cases)
        made.append(exercise)
        return exercise

    yield reg
    for ex in made:
        _core.REGISTRY.pop(ex, None)
        _core._FAILURES.pop(ex, None)
        _core._PASSED.pop(ex, None)


def _mean_cases(rng):
    yield Case((np.array([[1.0, 2.0], [3.0, 5.0], [5.0, 11.0]]),), expected=np.array([3.0, 6.0]), label="3x2 fixed")
    for _ in range(2):
        x = rng.normal(size=(int(rng.integers(4, 9)), 3))
        yield Case((x,), expected=x.mean(axis=0), label="random rows")


def _col_mean(x):
    return x.mean(axis=0)


def test_hint_only_after_a_failure_and_recipe_from_the_third(scratch):
    ex = scratch("99.mean", _mean_cases, hint="NUDGE", recipe="RECIPE")

    def stub(x):
        raise NotImplementedError()

    msg = run_check(ex, stub).message
    assert "not implemented yet" in msg and "NUDGE" not in msg and "RECIPE" not in msg
    ok = run_check(ex, _col_mean)
    assert ok.passed and "NUDGE" not in ok.message and "Hint" not in ok.message
    wrong = lambda x: x.max(axis=0)  # noqa: E731 - generic wrong answer
    first, second, third, fourth = (run_check(ex, wrong).message for _ in range(4))
    assert "Hint: NUDGE" in first and "Hint: NUDGE" in second
    assert "Hint: RECIPE" in third and "NUDGE" not in third and "Hint: RECIPE" in fourth
    assert "[3x2 fixed]" in first


def test_stub_does_not_count_as_a_failure(scratch):
    ex = scratch("99.stub", _mean_cases, hint="NUDGE", recipe="RECIPE")

    def stub(x):
        raise NotImplementedError

    for _ in range(5):
        run_check(ex, stub)
    assert _core._FAILURES.get(ex, 0) == 0
    assert "Hint: NUDGE" in run_check(ex, lambda x: x.min(axis=0)).message


# Each built-in detector on its own mistake; none on an unrelated wrong answer.
def _sum_cases(rng):
    x = np.array([[1.0, 2.0, 4.0], [3.0, -5.0, 1.0], [5.0, 11.0, 0.5], [2.0, 2.0, 2.0]])
    yield Case((x,), expected=x.mean(axis=0), label="4x3 fixed")


def _mat_cases(rng):
    a = np.arange(6.0).reshape(2, 3) + 1.0
    yield Case((a,), expected=2.0 * a, label="2x3 fixed")


@pytest.mark.parametrize("spec, answer, needle", [
    ("mean", lambda x: -x.mean(axis=0), "sign is flipped"),
    ("mean", lambda x: 2 * x.mean(axis=0), "2 times"),
    ("mean", lambda x: x.mean(axis=0) / 2, "half the expected"),
    ("mean", lambda x: x.sum(axis=0), "n = 4 times"),
    ("mean", lambda x: x.mean(axis=0) / 4, "divided by n = 4"),
    ("mat", lambda a: (2.0 * a).T, "transpose"),
    ("mat", lambda a: (2.0 * a).ravel(), "flattened"),
])
def test_builtin_mistakes_fire_on_their_mistake(scratch, spec, answer, needle):
    ex = scratch(f"99.m_{spec}", _sum_cases if spec == "mean" else _mat_cases, hint="NUDGE")
    msg = run_check(ex, answer).message
    assert "Likely mistake:" in msg and needle in msg, msg
    assert "NUDGE" not in msg  # the mistake replaces the generic hint


@pytest.mark.parametrize("answer", [
    lambda x: x.mean(axis=0) + 0.3,
    lambda x: np.median(x, axis=0),
    lambda x: x.mean(axis=0) * 1.7,
    lambda x: np.random.default_rng(3).normal(size=3),
    lambda x: x.mean(axis=1),
])
def test_no_likely_mistake_on_unrelated_wrong_answers(scratch, answer):
    ex = scratch("99.m_generic", _sum_cases, hint="NUDGE")
    msg = run_check(ex, answer).message
    assert "✗" in msg and "Likely mistake" not in msg and "Hint: NUDGE" in msg


def test_spec_mistakes_come_before_builtin_ones(scratch):
    def ddof(got, expected, case):
        x = case.args[0]
        return np.allclose(got, expected * np.sqrt(len(x) / (len(x) - 1)))

    def always_sign(got, expected, case):
        return np.allclose(-np.asarray(got), expected)

    ex = scratch("99.std", lambda rng: [Case((np.array([1.0, 2.0, 4.0, 7.0]),), expected=float(np.std([1, 2, 4, 7])),
                                              label="4 values")],
                 mistakes=[Mistake("ddof", ddof, "ddof=1 divides by n-1; use the population std (ddof=0)"),
                           Mistake("broken", lambda g, e, c: 1 / 0, "never shown"),
                           Mistake("sign", always_sign, "SPEC SIGN")])
    assert "Likely mistake: ddof=1" in run_check(ex, lambda x: float(np.std(x, ddof=1))).message
    assert "SPEC SIGN" in run_check(ex, lambda x: -float(np.std(x))).message
    with pytest.raises(ValueError, match="Mistake"):
        register("99.bad", mistakes=["sign"])(lambda rng: [])


def test_list_input_mistake_is_named(scratch):
    def cases(rng):
        yield Case((np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])), expected=0.5, label="arrays")
        y = [int(v) for v in rng.integers(0, 3, 6)]
        p = list(y)
        p[int(rng.integers(0, 6))] = 9
        yield Case((y, p), expected=5 / 6, label="plain lists with a mismatch")

    ex = scratch("99.acc", cases, hint="NUDGE")
    msg = run_check(ex, lambda a, b: float(np.mean(a == b))).message
    assert "[plain lists with a mismatch]" in msg and "Likely mistake:" in msg and "np.asarray" in msg
    assert run_check(ex, lambda a, b: float(np.mean(np.asarray(a) == np.asarray(b)))).passed


# ----------------------------------------------------------------------------- pure
def _pure_cases(rng):
    yield Case((np.array([1.0, 2.0, 3.0]), [1.0, 2.0]), expected=np.array([2.0, 3.0, 4.0]), label="array and list")


def test_pure_catches_in_place_array_and_list_and_passes_pure(scratch):
    ex = scratch("99.pure", _pure_cases)

    def inplace_array(x, extra):
        x += 1
        return x

    def inplace_list(x, extra):
        extra.append(3.0)
        return x + 1

    def clean(x, extra):
        return x + 1

    msg = run_check(ex, inplace_array).message
    assert "modified argument #1 (x) in place" in msg and "[array and list]" in msg
    assert "modified argument #2 (extra) in place" in run_check(ex, inplace_list).message
    assert run_check(ex, clean).passed


def test_pure_false_allows_in_place_and_nan_is_not_a_change(scratch):
    ex = scratch("99.impure", _pure_cases, pure=False)

    def inplace_array(x, extra):
        x += 1
        return x

    assert run_check(ex, inplace_array).passed
    ex2 = scratch("99.nan", lambda rng: [Case((np.array([np.nan, 1.0]),), expected=np.array([0.0, 1.0]))])
    assert run_check(ex2, lambda x: np.nan_to_num(x)).passed


def test_pure_compares_torch_tensors_without_importing_torch_itself(scratch):
    torch = pytest.importorskip("torch")
    ex = scratch("99.torch", lambda rng: [Case((torch.tensor([1.0, 2.0]),), expected=np.array([2.0, 3.0]))])

    def inplace(t):
        return t.add_(1)

    assert "modified argument #1 (t) in place" in run_check(ex, inplace).message
    assert run_check(ex, lambda t: t + 1).passed


# ----------------------------------------------------------------------------- returns
def test_returns_rejects_a_list_and_names_both_types(scratch):
    ex = scratch("99.ret", lambda rng: [Case((np.array([1.0, -2.0]),), expected=np.array([1.0, 2.0]), label="abs")],
                 returns=np.ndarray)
    msg = run_check(ex, lambda x: [abs(v) for v in x]).message
    assert "returned a list, expected np.ndarray" in msg and "[abs]" in msg
    assert run_check(ex, np.abs).passed
    ex2 = scratch("99.retf", lambda rng: [Case((np.array([1.0, 3.0]),), expected=2.0)], returns=(float, np.floating))
    assert run_check(ex2, np.mean).passed
    assert "expected float or np.floating" in run_check(ex2, lambda x: np.mean(x, keepdims=True)).message


# ----------------------------------------------------------------------------- no_loops
def _sq_cases(rng):
    x = rng.normal(size=5)
    yield Case((x,), expected=x ** 2, label="random")


def loop_for(x):
    out = np.empty_like(x)
    for i in range(len(x)):
        out[i] = x[i] ** 2
    return out


def loop_while(x):
    out, i = np.empty_like(x), 0
    while i < len(x):
        out[i] = x[i] * x[i]
        i += 1
    return out


def loop_comp(x):
    return np.array([v * v for v in x])


def vectorised(x):
    return x ** 2


@pytest.mark.parametrize("fn, what, line", [(loop_for, "a `for` loop", 3), (loop_while, "a `while` loop", 3),
                                            (loop_comp, "a list comprehension", 2)])
def test_no_loops_names_the_loop_and_its_line(scratch, fn, what, line):
    ex = scratch("99.loops", _sq_cases, no_loops=True)
    msg = run_check(ex, fn).message
    assert f"uses {what} (line {line} of the function)" in msg, msg


def test_no_loops_passes_vectorised_code_and_skips_without_source(scratch):
    ex = scratch("99.loops_ok", _sq_cases, no_loops=True)
    assert run_check(ex, vectorised).passed
    assert run_check(ex, np.square).passed  # a builtin: no source, skipped
    space: dict = {}
    exec("def made(x):\n    return np.array([v * v for v in x])\n", {"np": np}, space)
    assert run_check(ex, space["made"]).passed  # source unavailable: skipped, not guessed

    def stub(x):
        raise NotImplementedError()

    assert "not implemented yet" in run_check(ex, stub).message


# ----------------------------------------------------------------------------- floating="raise"
def _sigmoid_cases(rng):
    yield Case((np.array([0.0, 2.0]),), expected=1 / (1 + np.exp(-np.array([0.0, 2.0]))), label="small z")
    z = np.array([-800.0, 0.0, 800.0]) * rng.uniform(0.9, 1.0)
    yield Case((z,), expected=np.array([0.0, 0.5, 1.0]), label="|z| up to 800 (overflow trap)", floating="raise")


def test_floating_raise_catches_naive_overflow_and_passes_a_stable_formula(scratch):
    ex = scratch("99.sig", _sigmoid_cases, hint="NUDGE")
    msg = run_check(ex, lambda z: 1 / (1 + np.exp(-z))).message
    assert "hit a floating-point overflow error" in msg and "numerically stable" in msg
    assert "[|z| up to 800 (overflow trap)]" in msg and "Hint: NUDGE" in msg

    def stable(z):
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e))

    assert run_check(ex, stable).passed
    # np.errstate wraps the call only: the caller's error state is untouched afterwards
    assert np.geterr()["over"] != "raise"


# ----------------------------------------------------------------------------- instructor tests, grading
def test_seed_nonzero_is_an_instructor_test_naming_the_label(scratch):
    ex = scratch("99.seed", _mean_cases)
    msg = run_check(ex, lambda x: x.max(axis=0), seed=9173).message
    assert "instructor test (same checks, other data)" in msg and "[3x2 fixed]" in msg
    assert "instructor" not in run_check(ex, lambda x: x.max(axis=0)).message
    ex2 = scratch("99.nolabel", lambda rng: [Case((1.0,), expected=1.0)])
    assert "[case 1]" in run_check(ex2, lambda v: 2.0, seed=5).message
    assert run_check(ex, _col_mean, seed=9173).passed


def test_grading_mode_raises_check_failed_with_the_label(scratch, monkeypatch, capsys):
    ex = scratch("99.grade", _mean_cases)
    monkeypatch.setenv("COURSE_GRADING", "1")
    with pytest.raises(CheckFailed, match=r"instructor test .*\[3x2 fixed\]"):
        check(ex, lambda x: x.max(axis=0), seed=11)
    check(ex, _col_mean, seed=11)
    assert "✓ 99.grade" in capsys.readouterr().out


# ----------------------------------------------------------------------------- passed / use_mine
def test_passed_and_use_mine(scratch, capsys):
    ex = scratch("99.mine", _mean_cases)

    def reference(x):
        return x.mean(axis=0)

    def mine(x):
        return np.mean(x, axis=0)

    assert not passed(ex)
    assert use_mine(ex, mine, reference) is reference
    assert "has not passed its self-check yet (run its check cell)" in capsys.readouterr().out
    run_check(ex, mine)
    assert passed(ex)
    assert use_mine(ex, mine, reference) is mine
    assert capsys.readouterr().out.strip() == "using your mine (its self-check passed)"
    assert use_mine(ex, mine, reference, enabled=False) is reference
    assert "(USE_MY_CODE is False)" in capsys.readouterr().out

    def mine(x):  # noqa: F811 - redefined after its check: not trusted until checked again
        return x.max(axis=0)

    assert use_mine(ex, mine, reference) is reference
    assert "not the version that passed" in capsys.readouterr().out
    run_check(ex, mine)  # a failing check removes the pass
    assert not passed(ex)


# ----------------------------------------------------------------------------- tolerances
def test_zero_expected_accepts_a_tiny_correct_value_with_a_sensible_atol():
    assert compare(np.array([1e-18, 0.0]), np.array([0.0, 0.0]), rtol=1e-7, atol=1e-15) is None
    assert compare(np.array([1e-12, 0.0]), np.array([0.0, 0.0]), rtol=1e-7, atol=1e-15) is not None


def test_register_defaults_keep_old_specs_working():
    """A spec registered without the new options behaves as before v2: pure, loops allowed, any type."""
    from course_utils.checks._core import REGISTRY, register

    @register("99.defaults")
    def _cases(rng):
        yield Case((np.ones(2),), expected=np.ones(2))

    try:
        spec = REGISTRY["99.defaults"]
        assert spec.pure is True and spec.no_loops is False and spec.returns is None and spec.recipe == ""
    finally:
        REGISTRY.pop("99.defaults", None)


def test_a_coincidental_ratio_on_one_case_is_not_claimed(scratch):
    # On the fixed case, the column minimum [1, 2] happens to be the mean [3, 6] divided by n = 3; the random
    # cases contradict that, so no "Likely mistake" is claimed.
    ex = scratch("99.coincidence", _mean_cases, hint="NUDGE")
    msg = run_check(ex, lambda x: x.min(axis=0)).message
    assert "[3x2 fixed]" in msg and "Likely mistake" not in msg and "Hint: NUDGE" in msg
    # a real missing 1/n is confirmed by the other cases
    assert "Likely mistake:" in run_check(ex, lambda x: x.sum(axis=0)).message


def test_builtin_shape_mistakes_name_the_direction():
    e = np.arange(6.0).reshape(2, 3) + 1
    key, message = _core._builtin_mistake(e[:, :, None], e, Case())
    assert key == "flat" and "extra axis of length 1" in message and "keepdims=True" not in message
    key, message = _core._builtin_mistake(e.ravel(), e, Case())
    assert key == "flat" and "flattened" in message and "keepdims=True" in message


def test_returns_problem_says_to_reduce_an_array_when_a_number_is_expected():
    text = _core._returns_problem(np.ones(3), (float, np.floating))
    assert "reduce the array" in text
    assert "float(...)" in _core._returns_problem(np.ones(1), (float, np.floating))


def test_run_check_without_record_leaves_hint_tier_and_pass_alone():
    from course_utils.checks._core import REGISTRY

    register("99.record", hint="nudge", recipe="fuller recipe")(
        lambda rng: [Case((np.array([1.0, 2.0]),), expected=np.array([2.0, 4.0]))])
    try:
        good, bad = (lambda x: 2 * x), (lambda x: 3 * x)
        assert run_check("99.record", good).passed and passed("99.record")
        for _ in range(3):
            assert "nudge" in run_check("99.record", bad, record=False).message
        assert passed("99.record"), "a demonstration must not clear the learner's pass"
        run_check("99.record", bad)
        run_check("99.record", bad)
        assert "nudge" in run_check("99.record", bad, record=False).message  # tier unchanged by demos
        assert "fuller recipe" in run_check("99.record", bad).message          # the 3rd recorded failure
    finally:
        REGISTRY.pop("99.record", None)
        _core._FAILURES.pop("99.record", None)
        _core._PASSED.pop("99.record", None)


def test_time_limit_counts_cpu_time_with_a_wall_backstop():
    import time as _time

    from course_utils.checks._core import TimeLimitExceeded, call_with_time_limit

    def spin(seconds):
        end = _time.process_time() + seconds
        while _time.process_time() < end:
            pass
        return "done"

    with pytest.raises(TimeLimitExceeded):          # burns CPU past the limit
        call_with_time_limit(spin, (5.0,), {}, 0.3)
    with pytest.raises(TimeLimitExceeded):          # uses no CPU: ended by the wall-clock backstop
        call_with_time_limit(_time.sleep, (30,), {}, 0.2)
    assert call_with_time_limit(spin, (0.05,), {}, 2.0) == "done"


def test_compare_names_complex_results_without_a_numpy_warning():
    import warnings

    import numpy as np

    from course_utils.checks import compare

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        msg = compare(np.array([1 + 2j, 3 + 0j]), np.array([1.0, 3.0]))
    assert msg is not None and "complex" in msg
    assert compare(np.array([1 + 2j]), np.array([1 + 2j])) is None


def test_list_of_ragged_arrays_does_not_crash_the_list_probe():
    # a list argument of arrays of different shapes cannot become one array: the probe must say "not this mistake"
    case = Case(([np.ones((2, 3)), np.ones((2, 4))],), expected=5.0)
    spec = _core.Spec(exercise="t.ragged", cases=lambda rng: [case])
    assert _core._works_on_arrays(spec, lambda hs: 0.0, case) is False


def test_float_helpers_for_mistake_detectors():
    from course_utils.checks._core import as_float_array, close_to_float32

    assert as_float_array([[1, 2], [3]]) is None                  # ragged: not numeric
    assert as_float_array(np.array([1 + 2j])) is None               # an imaginary part is never dropped
    assert as_float_array([1, None]) is None
    assert as_float_array([1, 2]).dtype == np.float64
    value = np.array([1000.0, -2.0, np.nan])
    assert close_to_float32(value.astype(np.float32), value)      # float32 rounding of a wrong answer
    assert not close_to_float32(value + 0.1, value)                 # a different answer
    assert not close_to_float32(value[:2], value)                   # another shape
    assert not close_to_float32("1000", value)


def test_build_arguments_are_made_fresh_left_to_right_and_may_use_the_ones_before():
    from course_utils.checks import _core

    @_core.register_builder("test.box")
    def _box(value):
        return [value]

    @_core.register_builder("test.same_box", previous=True)
    def _same(previous=()):
        return previous[0]

    args = (_core.Build("test.box", {"value": 3}), 7, _core.Build("test.same_box"))
    first, seven, same = _core.materialize(args)
    assert first == [3] and seven == 7 and same is first  # the very object made before it
    again = _core.materialize(args)[0]
    assert again == [3] and again is not first  # a new object on every call
    assert repr(_core.Build("test.box", {"value": 3}, "a box")) == "a box"
