"""Lesson 00 self-checks: every correct formulation passes, predictable mistakes fail with named feedback,
and the instructors' hidden tests (the same checks with the notebook's other seed) agree with the public ones."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils.checks import _core, run_check
from course_utils.checks import lesson00 as ref

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "00_setup.ipynb"


def _hidden_seeds() -> dict[str, int]:
    """The seeds of the solution notebook's hidden tests: ``check("00.x", fn, seed=N)`` between the markers."""
    seeds: dict[str, int] = {}
    for cell in json.loads(SOLUTION.read_text(encoding="utf-8"))["cells"]:
        src = "".join(cell["source"])
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", src, flags=re.S):
            for ex, seed in re.findall(r"""check\(\s*["'](00\.\w+)["']\s*,\s*\w+\s*,\s*seed\s*=\s*(\d+)\s*\)""", block):
                seeds[ex] = int(seed)
    return seeds


HIDDEN = _hidden_seeds()
SEEDS = [0, 1, 7]  # the public seed and two more: every property must hold for any seed


@pytest.fixture(autouse=True)
def _fresh_kernel_state():
    """Each test starts like a fresh kernel (no earlier failures, so the first-tier hint is shown)."""
    _core._FAILURES.clear()
    _core._PASSED.clear()
    yield
    _core._FAILURES.clear()
    _core._PASSED.clear()


def test_every_exercise_has_a_hidden_test_with_another_seed():
    assert set(HIDDEN) == {"00.standardize", "00.accuracy", "00.torch_loop"}
    assert all(seed != 0 for seed in HIDDEN.values())


def test_hidden_tests_are_only_seeded_checks():
    """Hidden tests differ only in data: no bare asserts, nothing but check(..., seed=...)."""
    for cell in json.loads(SOLUTION.read_text(encoding="utf-8"))["cells"]:
        src = "".join(cell["source"])
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", src, flags=re.S):
            lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
            assert lines and all(ln.startswith("check(") and "seed=" in ln for ln in lines), block


def _labels(exercise: str, seed: int) -> list[str]:
    spec = _core.lookup(exercise)
    return [c.label for c in spec.cases(np.random.default_rng(_core._seed_for(exercise, seed)))]


@pytest.mark.parametrize("exercise", ["00.standardize", "00.accuracy", "00.torch_loop"])
def test_same_properties_for_every_seed(exercise):
    """Labels name properties; random parts (sizes, dtypes) may vary, the list of properties may not."""
    def kinds(labels):
        return [re.sub(r"\d+|\(.*?\)", "#", lab) for lab in labels]

    base = kinds(_labels(exercise, 0))
    for seed in SEEDS[1:] + [HIDDEN[exercise]]:
        assert kinds(_labels(exercise, seed)) == base


def test_accuracy_cases_include_mismatched_lists_tuples_and_dtypes_for_any_seed():
    for seed in SEEDS + [HIDDEN["00.accuracy"]]:
        spec = _core.lookup("00.accuracy")
        cases = list(spec.cases(np.random.default_rng(_core._seed_for("00.accuracy", seed))))
        by_label = {c.label.split(" (")[0]: c for c in cases}
        for label, kind in [("plain lists with a mismatch", list), ("tuples with a mismatch", tuple)]:
            y, p = by_label[label].args
            assert type(y) is kind and type(p) is kind
            assert 0.0 < by_label[label].expected < 1.0  # at least one right and one wrong
            assert y != p  # so `y == p` on the containers is False: the list bug cannot pass
        dt = by_label["arrays of different integer dtypes"].args
        assert dt[0].dtype != dt[1].dtype


# ----------------------------------------------------------------------------- 00.standardize
def std_numpy(x):
    return (x - x.mean(axis=0)) / x.std(axis=0)


def std_manual(x):
    x = np.asarray(x, dtype=float)
    mu = x.sum(axis=0) / x.shape[0]
    centred = x - mu
    return centred / np.sqrt((centred ** 2).mean(axis=0))


def std_keepdims(x):
    mu = np.mean(x, axis=0, keepdims=True)
    sd = np.sqrt(np.mean(np.square(x - mu), axis=0, keepdims=True))
    return np.divide(x - mu, sd)


def std_einsum(x):
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    c = x - np.ones((n, 1)) @ x.mean(axis=0, keepdims=True)
    return c / np.sqrt(np.einsum("ij,ij->j", c, c) / n)


def std_float32(x):
    """Right, in float32: every case compares with rtol 1e-6, so the property case must not ask for more."""
    x = np.asarray(x, dtype=np.float32)
    return (x - x.mean(axis=0)) / x.std(axis=0)


def std_scipy(x):
    from scipy.stats import zscore
    return zscore(x, axis=0)


STANDARDIZE_RIGHT = [std_numpy, std_manual, std_keepdims, std_einsum, std_float32, std_scipy, ref.standardize]


def std_ddof1(x):
    return (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)


def std_rows(x):
    return (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)


def std_whole(x):
    return (x - x.mean()) / x.std()


def std_inplace(x):
    x -= x.mean(axis=0)
    x /= x.std(axis=0)
    return x


def std_list(x):
    return ((x - x.mean(axis=0)) / x.std(axis=0)).tolist()


def std_loop(x):
    out = np.empty(x.shape)
    for j in range(x.shape[1]):
        out[:, j] = (x[:, j] - x[:, j].mean()) / x[:, j].std()
    return out


def std_centred_only(x):
    return x - x.mean(axis=0)


def std_variance(x):
    return (x - x.mean(axis=0)) / x.var(axis=0)


def std_global_std(x):
    return (x - x.mean(axis=0)) / x.std()


def std_min_max(x):
    return (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0))


STANDARDIZE_WRONG = [
    (std_ddof1, "Likely mistake: ddof=1 (the sample standard deviation"),
    (std_rows, "Likely mistake: you standardized each row"),
    (std_whole, "Likely mistake: one mean and one standard deviation for the whole matrix"),
    (std_inplace, "modified argument #1 (x) in place"),
    (std_list, "returned a list, expected np.ndarray"),
    (std_loop, "uses a `for` loop"),
    (std_centred_only, "Likely mistake: the columns are centred (mean 0) but not divided"),
    (std_variance, "Likely mistake: you divided by the variance"),
    (std_global_std, "Likely mistake: each column is centred with its own mean, but divided by one standard deviation"),
    (std_min_max, "Likely mistake: this is min-max scaling"),
]


@pytest.mark.parametrize("fn", STANDARDIZE_RIGHT, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", SEEDS + [HIDDEN["00.standardize"]])
def test_standardize_correct_formulations_pass(fn, seed):
    result = run_check("00.standardize", fn, seed=seed)
    assert result.passed, result.message


@pytest.mark.parametrize("fn,feedback", STANDARDIZE_WRONG, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("seed", [0, HIDDEN["00.standardize"]])
def test_standardize_mistakes_fail_with_named_feedback(fn, feedback, seed):
    result = run_check("00.standardize", fn, seed=seed)
    assert not result.passed
    assert feedback in result.message, result.message
    assert result.label or "loop" in feedback  # the failing property is named (the loop rule has no case)
    if seed and result.label:
        assert "instructor test (same checks, other data)" in result.message


def test_standardize_ddof_is_named_on_every_value_case():
    """The ddof mistake is recognised whichever case catches it, not only on the fixed example."""
    spec = _core.lookup("00.standardize")
    cases = list(spec.cases(np.random.default_rng(0)))
    ddof = spec.mistakes[0]
    for case in cases:
        got = std_ddof1(np.asarray(case.args[0], dtype=float))
        assert ddof.detect(got, case.expected, case), case.label


# ----------------------------------------------------------------------------- 00.accuracy
def acc_mean(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def acc_sum_len(y_true, y_pred):
    t, p = np.asarray(y_true), np.asarray(y_pred)
    return (t == p).sum() / len(t)


def acc_count_nonzero(y_true, y_pred):
    return np.count_nonzero(np.equal(y_true, y_pred)) / np.size(y_true)


def acc_python(y_true, y_pred):
    return sum(int(a == b) for a, b in zip(y_true, y_pred)) / len(y_true)


ACCURACY_RIGHT = [acc_mean, acc_sum_len, acc_count_nonzero, acc_python, ref.accuracy]


def acc_list_bug(y_true, y_pred):
    return float(np.mean(y_true == y_pred))


def acc_list_bug_sum(y_true, y_pred):
    return sum(y_true == y_pred) / len(y_true)


def acc_count(y_true, y_pred):
    return float(np.sum(np.asarray(y_true) == np.asarray(y_pred)))


def acc_error_rate(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) != np.asarray(y_pred)))


def acc_0d_array(y_true, y_pred):
    return np.asarray(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def acc_sorts_input(y_true, y_pred):
    if isinstance(y_pred, list):
        y_pred.sort()
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def acc_percent(y_true, y_pred):
    return 100.0 * float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


ACCURACY_WRONG = [
    (acc_list_bug, "convert the inputs with np.asarray"),
    (acc_list_bug_sum, "convert the inputs with np.asarray"),
    (acc_count, "Likely mistake: you returned the number of correct predictions"),
    (acc_error_rate, "Likely mistake: you returned the fraction of wrong predictions"),
    (acc_0d_array, "a single number is expected"),
    (acc_sorts_input, "modified argument #2 (y_pred) in place"),
    (acc_percent, "Likely mistake: you returned a percentage"),
]


@pytest.mark.parametrize("fn", ACCURACY_RIGHT, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", SEEDS + [HIDDEN["00.accuracy"]])
def test_accuracy_correct_formulations_pass(fn, seed):
    result = run_check("00.accuracy", fn, seed=seed)
    assert result.passed, result.message


@pytest.mark.parametrize("fn,feedback", ACCURACY_WRONG, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("seed", [0, HIDDEN["00.accuracy"]])
def test_accuracy_mistakes_fail_with_named_feedback(fn, feedback, seed):
    result = run_check("00.accuracy", fn, seed=seed)
    assert not result.passed
    assert feedback in result.message, result.message
    assert result.label, result.message


def test_accuracy_list_bug_is_caught_by_the_list_property():
    result = run_check("00.accuracy", acc_list_bug)
    assert result.label in ("plain lists with a mismatch", "tuples with a mismatch"), result.message


# ----------------------------------------------------------------------------- stubs, hints, non-functions
@pytest.mark.parametrize("exercise", ["00.standardize", "00.accuracy", "00.torch_loop"])
def test_untouched_stub_says_not_implemented_without_hint(exercise):
    def stub(*args, **kwargs):
        # YOUR CODE HERE
        raise NotImplementedError()

    result = run_check(exercise, stub)
    assert not result.passed and "not implemented yet" in result.message
    assert "Hint" not in result.message and "Likely mistake" not in result.message


@pytest.mark.parametrize("exercise,fn", [("00.standardize", std_numpy), ("00.accuracy", acc_mean)])
def test_pass_shows_no_hint(exercise, fn):
    result = run_check(exercise, fn)
    assert result.passed and "Hint" not in result.message


@pytest.mark.parametrize("exercise", ["00.standardize", "00.accuracy", "00.torch_loop"])
def test_hint_after_failure_then_recipe_from_the_third(exercise):
    def wrong(*args, **kwargs):
        return None

    spec = _core.lookup(exercise)
    messages = [run_check(exercise, wrong).message for _ in range(3)]
    assert f"Hint: {spec.hint}" in messages[0] and f"Hint: {spec.hint}" in messages[1]
    assert f"Hint: {spec.recipe}" in messages[2]


@pytest.mark.parametrize("exercise", ["00.standardize", "00.accuracy", "00.torch_loop"])
def test_hints_do_not_give_the_code_away(exercise):
    spec = _core.lookup(exercise)
    for text in (spec.hint, spec.recipe):
        assert text and "return " not in text and "axis=0" not in text and "np.mean(" not in text


# ----------------------------------------------------------------------------- 00.torch_loop
torch = pytest.importorskip("torch")


def loop_sgd(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return model, losses


def loop_by_hand(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for _ in range(steps):
        loss = ((model(xt) - yt) ** 2).mean()
        losses.append(float(loss.detach()))
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return model, losses


def loop_mseloss_sequential(x, y, steps, lr):
    model = torch.nn.Sequential(torch.nn.Linear(1, 1))
    xt, yt = torch.tensor(x), torch.tensor(y)
    criterion = torch.nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    losses = []
    for _ in range(steps):
        loss = criterion(model(xt), yt)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.detach().item())
    return model, losses


def loop_autograd_grad(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    params = list(model.parameters())
    for _ in range(steps):
        loss = torch.mean(torch.square(model(xt) - yt))
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
        losses.append(loss.item())
    return tuple([model, losses])


def loop_records_after_update(x, y, steps, lr):
    """Right too: it records, for each step, the loss right after its update."""
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(xt), yt).backward()
        opt.step()
        with torch.no_grad():
            losses.append(torch.nn.functional.mse_loss(model(xt), yt).item())
    return model, losses


TORCH_RIGHT = [loop_sgd, loop_by_hand, loop_mseloss_sequential, loop_autograd_grad, loop_records_after_update,
               ref.train_torch]


def loop_no_zero_grad(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return model, losses


def loop_tensors(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss)
        loss.backward()
        opt.step()
    return model, losses


def loop_no_step(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.item())
        loss.backward()
    return model, losses


def loop_fixed_lr(x, y, steps, lr):
    return loop_sgd(x, y, steps, 0.1)


def loop_fixed_lr_05(x, y, steps, lr):
    """Ignores lr with a hard-coded rate that converges on every line: only the short-run case catches it."""
    return loop_sgd(x, y, steps, 0.5)


def loop_extra_steps(x, y, steps, lr):
    """Trains 300 steps whatever `steps` says, and records only the first `steps` losses."""
    model, losses = loop_sgd(x, y, 300, lr)
    return model, losses[:steps]


def loop_momentum(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return model, losses


def loop_half_mse(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return model, losses


def loop_sum_loss(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(xt) - yt) ** 2).sum()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return model, losses


def loop_centres_x_in_place(x, y, steps, lr):
    x -= x.mean()
    return loop_sgd(x, y, steps, lr)


def loop_model_only(x, y, steps, lr):
    return loop_sgd(x, y, steps, lr)[0]


def loop_adam(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return model, losses


def loop_zero_grad_after_backward(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.item())
        loss.backward()
        opt.zero_grad()
        opt.step()
    return model, losses


def loop_numpy_losses(x, y, steps, lr):
    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, opt = [], torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.detach().numpy())
        loss.backward()
        opt.step()
    return model, losses


TORCH_WRONG = [
    (loop_no_zero_grad, "Likely mistake: the loss went up during training"),
    (loop_tensors, "the losses should be Python floats, got torch.Tensor"),
    (loop_no_step, "Likely mistake: the loss never changes"),
    (loop_fixed_lr, "the loop did not reach the minimum of the loss"),
    (loop_sum_loss, "Likely mistake: the first loss is about n times larger"),
    (loop_fixed_lr_05, "not those of plain gradient descent on the MSE with the given learning rate"),
    (loop_extra_steps, "not those of plain gradient descent on the MSE with the given learning rate"),
    (loop_momentum, "is the update plain gradient descent"),
    (loop_half_mse, "Likely mistake: the recorded losses are half the mean squared error"),
    (loop_zero_grad_after_backward, "not between backward() and the update"),
    (loop_numpy_losses, "the losses should be Python floats, got numpy.ndarray: store each loss as a number\n"),
    (loop_centres_x_in_place, "modified argument #1 (x) in place"),
    (loop_model_only, "expected tuple or list"),
    (loop_adam, "is the update plain gradient descent"),
]


@pytest.mark.parametrize("fn", TORCH_RIGHT, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", SEEDS + [HIDDEN["00.torch_loop"]])
def test_torch_loop_correct_formulations_pass(fn, seed):
    torch.manual_seed(seed)
    result = run_check("00.torch_loop", fn, seed=seed)
    assert result.passed, result.message


@pytest.mark.parametrize("fn,feedback", TORCH_WRONG, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("seed", [0, HIDDEN["00.torch_loop"]])
def test_torch_loop_mistakes_fail_with_named_feedback(fn, feedback, seed):
    torch.manual_seed(seed)
    result = run_check("00.torch_loop", fn, seed=seed)
    assert not result.passed
    assert feedback in result.message, result.message
    assert result.label, result.message


@pytest.mark.parametrize("fixed", [0.05, 0.1, 0.2, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("seed", [0, HIDDEN["00.torch_loop"]])
def test_a_hard_coded_learning_rate_fails_a_learning_rate_case(fixed, seed):
    """Regression: a loop that ignored `lr` with a rate between 0.3 and 0.7 used to pass (it converges on
    every case); the short run at an unusual lr now compares the losses with gradient descent at that lr."""
    torch.manual_seed(seed)
    result = run_check("00.torch_loop", lambda x, y, steps, lr: loop_sgd(x, y, steps, fixed), seed=seed)
    assert not result.passed
    assert "learning rate" in result.label, result.message


def test_short_run_learning_rate_is_never_a_round_number():
    spec = _core.lookup("00.torch_loop")
    for seed in range(200):
        case = list(spec.cases(np.random.default_rng(_core._seed_for("00.torch_loop", seed))))[-1]
        lr = case.args[3]
        assert 0.05 <= lr <= 0.21 and round(lr * 1000) != lr * 1000, lr


def test_gradient_descent_recovered_backwards_matches_forward_run():
    """The short-run validator recovers the gradient-descent losses from the final line; check that
    reconstruction against a forward float64 run of gradient descent on the same data."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(40, 1))
    y = 2.5 * x - 1 + 0.2 * rng.normal(size=(40, 1))
    w, b, lr, losses = 0.3, -0.7, 0.137, []
    for _ in range(6):
        r = w * x + b - y
        losses.append(float(np.mean(r ** 2)))
        w, b = w - lr * float(np.mean(2 * r * x)), b - lr * float(np.mean(2 * r))
    back = ref._gd_losses(x, y, lr, w, b, 6)
    np.testing.assert_allclose(back[:-1], losses, rtol=1e-9)
    assert ref._trajectory_problem(x, y, lr, w, b, losses) is None
    assert ref._trajectory_problem(x, y, lr, w, b, [v * 1.01 for v in losses]) is not None


def test_checks_do_not_import_frameworks():
    """Importing and running the NumPy checks, and the torch check on a non-torch answer, imports no
    framework: torch is touched only when the learner's answer is a torch object."""
    code = (
        "import sys\n"
        "from course_utils.checks import run_check\n"
        "from course_utils.checks import lesson00 as ref\n"
        "assert run_check('00.standardize', ref.standardize).passed\n"
        "assert run_check('00.accuracy', ref.accuracy).passed\n"
        "r = run_check('00.torch_loop', lambda x, y, steps, lr: (object(), [1.0] * steps))\n"
        "assert not r.passed and 'torch.nn.Module' in r.message, r.message\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- the lesson pattern
def test_lesson00_follows_the_lesson_pattern():
    """Lesson 00 sets the pattern later lessons copy: the sections, the USE_MY_CODE switch used through
    use_mine, a framework exercise, an experiment-and-explain exercise with a model answer."""
    cells = json.loads(SOLUTION.read_text(encoding="utf-8"))["cells"]
    md = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for heading in ("### Objectives", "## Common pitfalls", "## Summary", "**Where this shows up later:**",
                    "## References and further reading", "## Glossary (English / 中文)"):
        assert heading in md, heading
    assert md.index("## Common pitfalls") < md.index("## Summary") < md.index("## References and further reading") \
        < md.index("## Glossary (English / 中文)")
    assert re.search(r"^USE_MY_CODE = True", code, flags=re.M)
    for ex in ("00.standardize", "00.accuracy", "00.torch_loop"):
        assert re.search(rf'use_mine\("{ex}", \w+, ref\.\w+, enabled=USE_MY_CODE\)', code), ex
    assert "### EXERCISE 00.torch_loop" in code and "import torch" in code
    experiment = next(c for c in cells if "### EXERCISE 00.keras_overhead" in "".join(c["source"]))
    assert experiment["cell_type"] == "markdown" and "### BEGIN SOLUTION" in "".join(experiment["source"])
    # the debug-style print of the widget cell is gone, and the glossary defines "epoch"
    assert "static fallback figure" not in code and "| epoch |" in md
    # "epoch" is defined (in bold) where the prose first uses the word, before any code cell prints it
    assert md.lower().index("epoch") == md.index("**epoch**") + 2
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code" and "epoch" in "".join(c["source"]))
    first_md = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "**epoch**" in "".join(c["source"]))
    assert first_md < first_code
