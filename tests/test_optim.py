"""course_utils.optim (lesson 02): update rules, conventions, schedules, surfaces, framework parity."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from course_utils import optim as O


@pytest.fixture
def rng():
    return np.random.default_rng(2)


# ----------------------------------------------------------------------------- single steps
def test_sgd_and_momentum_first_step_is_plain_sgd():
    p, g = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    assert np.allclose(O.sgd_step(p, g, 0.1), [0.95, 2.1])
    for conv in ("torch", "keras"):
        new_p, _ = O.momentum_step(p, g, np.zeros(2), 0.1, 0.9, convention=conv)
        assert np.allclose(new_p, [0.95, 2.1])


def test_momentum_conventions_agree_for_constant_lr_and_differ_when_lr_changes(rng):
    g_seq = rng.normal(size=(20, 3))
    for nesterov in (False, True):
        pt, bt = np.zeros(3), np.zeros(3)
        pk, bk = np.zeros(3), np.zeros(3)
        for g in g_seq:
            pt, bt = O.momentum_step(pt, g, bt, 0.05, 0.9, nesterov, "torch")
            pk, bk = O.momentum_step(pk, g, bk, 0.05, 0.9, nesterov, "keras")
        assert np.allclose(pt, pk, atol=1e-14) and np.allclose(bk, -0.05 * bt)
    sched = O.step_lr(0.1, 5, 0.1)
    a = O.SGD(sched, momentum=0.9, convention="torch")
    b = O.SGD(sched, momentum=0.9, convention="keras")
    xa, xb = np.zeros(3), np.zeros(3)
    for g in g_seq:
        a.step([xa], [g])
        b.step([xb], [g])
    assert np.abs(xa - xb).max() > 1e-3


def test_rmsprop_eps_placement():
    p, g, s = np.array([0.0]), np.array([1e-3]), np.zeros(1)
    pt, _ = O.rmsprop_step(p, g, s, 1.0, 0.9, 1e-2, "torch")
    pk, _ = O.rmsprop_step(p, g, s, 1.0, 0.9, 1e-2, "keras")
    assert np.isclose(pt[0], -1e-3 / (math.sqrt(0.1 * 1e-6) + 1e-2))
    assert np.isclose(pk[0], -1e-3 / math.sqrt(0.1 * 1e-6 + 1e-2))


def test_adam_first_step_has_size_lr_and_uncorrected_is_larger():
    p, z = np.array([0.0, 0.0]), np.zeros(2)
    g = np.array([3.0, -1e-3])
    new, m, v = O.adam_step(p, g, z, z, 1, lr=0.01, eps=0.0)
    assert np.allclose(new, [-0.01, 0.01])  # |step| = lr regardless of |g|
    raw, _, _ = O.adam_step(p, g, z, z, 1, lr=0.01, eps=0.0, bias_correction=False)
    assert np.allclose(np.abs(raw), 0.01 * 0.1 / math.sqrt(0.001))  # ~3.16 lr
    with pytest.raises(ValueError):
        O.adam_step(p, g, z, z, 0)


def test_adam_conventions_differ_only_by_epsilon(rng):
    p, g = rng.normal(size=4), rng.normal(size=4)
    m, v = rng.normal(size=4) * 0.1, rng.uniform(0, 1, 4)
    a = O.adam_step(p, g, m, v, 7, 0.01, eps=0.0, convention="torch")
    b = O.adam_step(p, g, m, v, 7, 0.01, eps=0.0, convention="keras")
    assert all(np.allclose(x, y) for x, y in zip(a, b))
    a = O.adam_step(p, g, m, v, 7, 0.01, eps=0.1, convention="torch")
    b = O.adam_step(p, g, m, v, 7, 0.01, eps=0.1, convention="keras")
    assert not np.allclose(a[0], b[0])


def test_adamw_decays_before_the_adam_step(rng):
    p, g, z = rng.normal(size=3), rng.normal(size=3), np.zeros(3)
    w, _, _ = O.adamw_step(p, g, z, z, 1, lr=0.1, weight_decay=0.5)
    a, _, _ = O.adam_step(p * (1 - 0.05), g, z, z, 1, lr=0.1)
    assert np.allclose(w, a)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        O.momentum_step(np.zeros(1), np.zeros(1), np.zeros(1), 0.1, convention="jax")
    with pytest.raises(ValueError):
        O.SGD(0.1, nesterov=True)
    opt = O.SGD(0.1)
    with pytest.raises(ValueError):
        opt.step([np.zeros(2)], [np.zeros(3)])
    with pytest.raises(ValueError):
        opt.step([np.zeros(2)], [])


def test_optimizer_updates_in_place_and_counts_steps():
    x = np.array([1.0, 1.0])
    opt = O.Adam(0.1)
    opt.step([x], [np.array([1.0, -1.0])])
    assert opt.iterations == 1 and np.allclose(x, [0.9, 1.1])
    assert O.RMSprop(convention="keras").rho == 0.9 and O.RMSprop().rho == 0.99
    assert O.Adam(convention="keras").eps == 1e-7


# ----------------------------------------------------------------------------- schedules
def test_schedules_values():
    s = O.step_lr(1.0, 10, 0.5)
    assert [s(0), s(9), s(10), s(25)] == [1.0, 1.0, 0.5, 0.25]
    c = O.cosine_lr(1.0, 100, 0.1)
    assert math.isclose(c(0), 1.0) and math.isclose(c(50), 0.55) and math.isclose(c(100), 0.1) and c(500) == c(100)
    w = O.warmup_cosine_lr(1.0, 10, 110)
    assert w(0) == 0.0 and math.isclose(w(5), 0.5) and math.isclose(w(10), 1.0) and math.isclose(w(60), 0.5)
    assert math.isclose(w(110), 0.0, abs_tol=1e-15) and O.constant_lr(0.3)(99) == 0.3
    with pytest.raises(ValueError):
        O.warmup_cosine_lr(1.0, 10, 10)
    with pytest.raises(ValueError):
        O.step_lr(1.0, 0)


def test_schedules_match_torch():
    torch = pytest.importorskip("torch")
    sch = torch.optim.lr_scheduler

    def lrs(make, n):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
        s = make(opt)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
        return np.array(out)

    n = 120
    assert np.allclose(lrs(lambda o: sch.StepLR(o, 30, 0.2), n), [O.step_lr(0.5, 30, 0.2)(t) for t in range(n)])
    assert np.allclose(lrs(lambda o: sch.CosineAnnealingLR(o, 100, 0.01), 101),
                       [O.cosine_lr(0.5, 100, 0.01)(t) for t in range(101)], atol=1e-12)
    warm = lambda o: sch.SequentialLR(o, [sch.LinearLR(o, 0.1, 1.0, total_iters=20),  # noqa: E731
                                          sch.CosineAnnealingLR(o, 80, 0.0)], milestones=[20])
    ours = O.warmup_cosine_lr(0.5, 20, 100, start_lr=0.05)
    assert np.allclose(lrs(warm, 100), [ours(t) for t in range(100)], atol=1e-12)


def test_schedules_match_keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = pytest.importorskip("keras")
    S = keras.optimizers.schedules
    steps = np.arange(0, 130)
    k = lambda sched: np.array([float(sched(int(t))) for t in steps])  # noqa: E731
    ours = O.warmup_cosine_lr(0.5, 20, 100, lr_min=0.05, start_lr=0.0)
    theirs = S.CosineDecay(0.0, decay_steps=80, alpha=0.1, warmup_target=0.5, warmup_steps=20)
    assert np.allclose(k(theirs), [ours(t) for t in steps], atol=1e-6)  # Keras computes in float32
    step = S.ExponentialDecay(0.5, decay_steps=30, decay_rate=0.2, staircase=True)
    assert np.allclose(k(step), [O.step_lr(0.5, 30, 0.2)(t) for t in steps], atol=1e-7)


# ----------------------------------------------------------------------------- surfaces and trajectories
def _num_grad(f, x, h=1e-6):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])


def test_surface_gradients(rng):
    for _ in range(5):
        x = rng.uniform(-2, 2, 2)
        assert np.allclose(O.rosenbrock_grad(x), _num_grad(O.rosenbrock, x), rtol=1e-6, atol=1e-5)
        assert np.allclose(O.quadratic_grad(x, 2.0, 30.0), _num_grad(lambda p: O.quadratic(p, 2.0, 30.0), x))
    assert O.rosenbrock(np.array([1.0, 1.0])) == 0.0
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)))
    assert O.quadratic(grid).shape == (3, 4) and O.rosenbrock(grid).shape == (3, 4)


def test_run_trajectory_converges_and_stops_on_divergence():
    path = O.run_trajectory(O.quadratic_grad, [2.0, 1.0], O.SGD(0.04), 300)
    assert path.shape == (301, 2) and np.linalg.norm(path[-1]) < 1e-3
    blown = O.run_trajectory(O.quadratic_grad, [2.0, 1.0], O.SGD(1e150), 50)
    assert len(blown) < 51 and np.all(np.isfinite(blown))
    adam = O.run_trajectory(O.rosenbrock_grad, [-1.5, 2.0], O.Adam(0.05), 3000)
    assert O.rosenbrock(adam[-1]) < O.rosenbrock(adam[0]) * 1e-3


# ----------------------------------------------------------------------------- parity with the frameworks
def _problem(rng, steps=25):
    X, w_true = rng.normal(size=(64, 4)), rng.normal(size=4)
    y = (X @ w_true + 0.3 * rng.normal(size=64) > 0).astype(float)
    batches = [rng.choice(64, 16, replace=False) for _ in range(steps)]
    return X, y, rng.normal(size=4) * 0.1, batches


def _np_path(opt, X, y, w0, batches):
    from course_utils import losses as L

    w, path = w0.copy(), []
    for idx in batches:
        g = X[idx].T @ L.bce_with_logits_grad(X[idx] @ w, y[idx])
        opt.step([w], [g])
        path.append(w.copy())
    return np.array(path)


TORCH_CASES = {
    "sgd": (dict(lr=0.2), lambda t, p: t.optim.SGD(p, lr=0.2)),
    "momentum+wd": (dict(lr=0.1, momentum=0.9, weight_decay=0.01),
                    lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
    "nesterov": (dict(lr=0.1, momentum=0.9, nesterov=True),
                 lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    "rmsprop": (dict(lr=0.01), lambda t, p: t.optim.RMSprop(p, lr=0.01)),
    "adam+l2": (dict(lr=0.05, weight_decay=0.1), lambda t, p: t.optim.Adam(p, lr=0.05, weight_decay=0.1)),
    "adamw": (dict(lr=0.05, weight_decay=0.1), lambda t, p: t.optim.AdamW(p, lr=0.05, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_step_for_step_parity_with_torch(name, rng):
    torch = pytest.importorskip("torch")
    kwargs, make = TORCH_CASES[name]
    cls = {"sgd": O.SGD, "momentum+wd": O.SGD, "nesterov": O.SGD, "rmsprop": O.RMSprop,
           "adam+l2": O.Adam, "adamw": O.AdamW}[name]
    X, y, w0, batches = _problem(rng)
    ours = _np_path(cls(**kwargs), X, y, w0, batches)
    w = torch.tensor(w0, requires_grad=True)
    opt, Xt, yt = make(torch, [w]), torch.from_numpy(X), torch.from_numpy(y)
    theirs = []
    for idx in batches:
        opt.zero_grad()
        i = torch.from_numpy(idx)
        torch.nn.functional.binary_cross_entropy_with_logits(Xt[i] @ w, yt[i]).backward()
        opt.step()
        theirs.append(w.detach().numpy().copy())
    assert np.abs(ours - np.array(theirs)).max() <= 1e-12


def test_step_for_step_parity_with_keras_float64(rng):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    # Hyperparameters exactly representable in float32: Keras (TF backend) casts lr, momentum,
    # betas and weight decay through float32 even for float64 variables (lesson 02 explains).
    cases = [
        (O.SGD(0.125, momentum=0.875, convention="keras"), keras.optimizers.SGD(0.125, momentum=0.875)),
        (O.SGD(0.125, momentum=0.875, nesterov=True, convention="keras"),
         keras.optimizers.SGD(0.125, momentum=0.875, nesterov=True)),
        (O.RMSprop(0.015625, convention="keras"), keras.optimizers.RMSprop(0.015625)),
        (O.AdamW(0.03125, beta1=0.875, beta2=0.9990234375, weight_decay=0.0625, convention="keras"),
         keras.optimizers.AdamW(0.03125, beta_1=0.875, beta_2=0.9990234375, weight_decay=0.0625)),
    ]
    X, y, w0, batches = _problem(rng, steps=15)
    for ours_opt, keras_opt in cases:
        ours = _np_path(ours_opt, X, y, w0, batches)
        w = keras.Variable(w0, dtype="float64")
        theirs = []
        for idx in batches:
            with tf.GradientTape() as tape:
                z = keras.ops.matmul(X[idx], w)
                loss = keras.ops.mean(keras.losses.binary_crossentropy(y[idx][:, None], z[:, None],
                                                                       from_logits=True))
            keras_opt.apply_gradients([(tape.gradient(loss, w), w)])
            theirs.append(w.numpy().copy())
        assert np.abs(ours - np.array(theirs)).max() <= 1e-12, type(keras_opt).__name__


def test_plot_contour_trajectories_draws_paths():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.plots import plot_contour_trajectories

    paths = {"GD": O.run_trajectory(O.rosenbrock_grad, [-1.0, 2.0], O.SGD(1e-3), 20),
             "diverged": np.array([[0.0, 0.0], [1e9, 1e9]])}
    ax = plot_contour_trajectories(O.rosenbrock, paths, ax=None, log_levels=True, minimum=(1, 1), title="t",
                                   resolution=40)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "GD" in labels and "diverged" in labels and "minimum" in labels
    assert ax.get_title() == "t" and ax.get_xlim() == (-2.0, 2.0)
    plt.close(ax.figure)
    ax = plot_contour_trajectories(lambda g: O.quadratic(g), None, xlim=(-1, 1), ylim=(-1, 1), resolution=30)
    assert ax.get_legend() is None
    plt.close(ax.figure)


def test_plot_contour_trajectories_markers_and_legend():
    matplotlib = pytest.importorskip("matplotlib")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.plots import plot_contour_trajectories

    path = O.run_trajectory(O.quadratic_grad, [-2.0, 1.0], O.SGD(0.05), 20)
    ax = plot_contour_trajectories(O.quadratic, {"GD": path}, marker_every=5, legend=False, resolution=40)
    dots = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None" and ln.get_marker() == "."]
    assert len(dots) == 1 and len(dots[0].get_xdata()) == len(path[::5])
    assert ax.get_legend() is None
    with pytest.raises(ValueError, match="marker_every"):
        plot_contour_trajectories(O.quadratic, {"GD": path}, marker_every=-1, resolution=20)
    plt.close("all")


def test_warmup_cosine_function_matches_the_schedule():
    sched = O.warmup_cosine_lr(0.3, 7, 50, 0.01)
    for step in (0, 3, 6, 7, 8, 30, 50, 80):
        assert O.warmup_cosine(step, 0.3, 7, 50, 0.01) == sched(step)
    assert O.warmup_cosine(0, 0.3, 7, 50) == 0.0 and O.warmup_cosine(7, 0.3, 7, 50) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        O.warmup_cosine(3, 0.1, 10, 10)


def test_train_steps_torch_matches_numpy_adam(rng):
    torch = pytest.importorskip("torch")
    X, y = rng.normal(size=(40, 3)), (rng.random(40) > 0.5).astype(float)
    W0, b0 = rng.normal(size=(1, 3)), rng.normal(size=1)
    model = torch.nn.Linear(3, 1, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(W0))
        model.bias.copy_(torch.from_numpy(b0))
    batches = [rng.choice(40, 8, replace=False) for _ in range(6)]
    losses = O.train_steps_torch(model, torch.optim.Adam(model.parameters(), lr=0.05), torch.from_numpy(X),
                                 torch.from_numpy(y), [torch.from_numpy(i) for i in batches])
    W, b, opt = W0.copy(), b0.copy(), O.Adam(0.05)
    for idx, got in zip(batches, losses):
        z = X[idx] @ W[0] + b[0]
        assert got == pytest.approx(float(np.mean(np.logaddexp(0, z) - y[idx] * z)), rel=1e-10)
        dz = (1 / (1 + np.exp(-z)) - y[idx]) / len(idx)
        opt.step([W, b], [dz[None, :] @ X[idx], np.array([dz.sum()])])
    assert all(isinstance(v, float) for v in losses)
    np.testing.assert_allclose(model.weight.detach().numpy(), W, rtol=1e-10)
    np.testing.assert_allclose(model.bias.detach().numpy(), b, rtol=1e-10)
