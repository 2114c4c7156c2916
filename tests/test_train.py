"""course_utils.train: the shared PyTorch loop and Keras history conversion."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from course_utils.train import (History, accuracy_from_logits, evaluate_torch, fit_torch,  # noqa: E402
                                history_from_keras, predict_torch)

F = torch.nn.functional


def _blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 5)) + 1.5 * y[:, None]
    return X, y


def _model(seed=0, d_in=5, d_out=2):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d_in, 16), torch.nn.ReLU(), torch.nn.Linear(16, d_out))


def test_import_is_light():
    code = "import course_utils.train, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fit_learns_and_records_history():
    X, y = _blobs()
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    h = fit_torch(model, (X[:160], y[:160]), (X[160:], y[160:]), loss_fn=F.cross_entropy, optimizer=opt,
                  epochs=15, batch_size=32, metrics=["accuracy"])
    assert isinstance(h, History) and isinstance(h, dict)
    assert list(h) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 15 for v in h.values()) and h.epochs_run == 15
    assert h["loss"][-1] < h["loss"][0] and h["val_accuracy"][-1] > 0.85
    assert not h.stopped_early and 1 <= h.best_epoch <= 15
    ev = evaluate_torch(model, (X[160:], y[160:]), F.cross_entropy, metrics=["accuracy"])
    assert abs(ev["loss"] - h["val_loss"][-1]) < 1e-6
    out = predict_torch(model, X[160:])
    assert out.shape == (80, 2) and abs(accuracy_from_logits(y[160:], out) - h["val_accuracy"][-1]) < 1e-12


def test_deterministic_given_seeds():
    X, y = _blobs()
    runs = []
    for _ in range(2):
        model = _model(seed=3)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        runs.append(fit_torch(model, (X, y), loss_fn=F.cross_entropy, optimizer=opt, epochs=3, seed=7)["loss"])
    assert runs[0] == runs[1]


def test_early_stopping_restores_best_weights():
    X, y = _blobs(n=60)
    rng = np.random.default_rng(1)
    Xv, yv = rng.normal(size=(60, 5)), rng.integers(0, 2, 60)  # validation labels are noise: overfit fast
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=5e-2)
    h = fit_torch(model, (X, y), (Xv, yv), loss_fn=F.cross_entropy, optimizer=opt, epochs=200, patience=3)
    assert h.stopped_early and h.epochs_run == h.best_epoch + 3 < 200
    restored = evaluate_torch(model, (Xv, yv), F.cross_entropy)["loss"]
    assert abs(restored - min(h["val_loss"])) < 1e-6


def test_monitor_max_and_metric_functions():
    X, y = _blobs()
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def error_rate(y_true, outputs):
        return 1.0 - accuracy_from_logits(y_true, outputs)

    h = fit_torch(model, (X, y), (X, y), loss_fn=F.cross_entropy, optimizer=opt, epochs=4,
                  metrics={"acc": "accuracy", "err": error_rate}, monitor="val_acc", mode="max", patience=10)
    np.testing.assert_allclose(np.array(h["acc"]) + np.array(h["err"]), 1.0)
    assert h.best_value == max(h["val_acc"])


def test_binary_logits_multi_input_float64_and_batch_fn():
    X, y = _blobs()

    class TwoInputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(3, 1), torch.nn.Linear(2, 1)

        def forward(self, xa, xb):
            return (self.a(xa) + self.b(xb)).squeeze(-1)

    torch.manual_seed(0)
    model = TwoInputs().double()
    opt = torch.optim.Adam(model.parameters(), lr=5e-2)
    loss = lambda out, t: F.binary_cross_entropy_with_logits(out, t.to(out.dtype))  # noqa: E731
    h = fit_torch(model, (X[:, :3], X[:, 3:], y), loss_fn=loss, optimizer=opt, epochs=10, metrics=["accuracy"])
    assert h["accuracy"][-1] > 0.8
    assert predict_torch(model, (X[:, :3], X[:, 3:])).dtype == np.float64

    # dict batches need batch_fn
    class DictSet(torch.utils.data.Dataset):
        def __len__(self):
            return len(y)

        def __getitem__(self, i):
            return {"a": torch.tensor(X[i, :3]), "b": torch.tensor(X[i, 3:]), "label": torch.tensor(y[i])}

    h2 = fit_torch(model, DictSet(), loss_fn=loss, optimizer=opt, epochs=1,
                   batch_fn=lambda b: ((b["a"], b["b"]), b["label"]))
    assert len(h2["loss"]) == 1
    with pytest.raises(TypeError, match="batch_fn"):
        fit_torch(model, DictSet(), loss_fn=loss, optimizer=opt, epochs=1)


def test_errors_are_clear():
    X, y = _blobs()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="val_data"):
        fit_torch(model, (X, y), loss_fn=F.cross_entropy, optimizer=opt, epochs=1, monitor="val_loss")
    with pytest.raises(ValueError, match="same number of rows"):
        fit_torch(model, (X, y[:10]), loss_fn=F.cross_entropy, optimizer=opt, epochs=1)
    with pytest.raises(KeyError, match="monitor"):
        fit_torch(model, (X, y), loss_fn=F.cross_entropy, optimizer=opt, epochs=1, monitor="f1")
    big = torch.optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit_torch(model, (X * 1e10, y), loss_fn=F.cross_entropy, optimizer=big, epochs=3)


def test_grad_clip_and_scheduler():
    X, y = _blobs()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    fit_torch(model, (X, y), loss_fn=F.cross_entropy, optimizer=opt, epochs=3, grad_clip=1.0, scheduler=sched)
    assert abs(opt.param_groups[0]["lr"] - 0.0125) < 1e-12


def test_history_from_keras_dict_and_object():
    raw = {"loss": [1.0, 0.5, 0.4], "val_loss": [np.float32(1.1), 0.7, 0.9]}
    h = history_from_keras(raw)
    assert h["val_loss"][0] == pytest.approx(1.1) and type(h["val_loss"][0]) is float
    assert h.best_epoch == 2

    class FakeHistory:
        history = raw

    assert history_from_keras(FakeHistory()) == h
    with pytest.raises(TypeError):
        history_from_keras([1, 2])


def test_fit_torch_show_progress_false_hides_the_epoch_bar(monkeypatch):
    """show_progress=False hides the per-epoch bar whatever the mode (the fusion benchmark shows its own bar)."""
    import torch

    from course_utils import train

    seen = []
    real = train.progress
    monkeypatch.setattr(train, "progress", lambda it, **kw: (seen.append(kw.get("disable")), real(it, **kw))[1])
    model = torch.nn.Linear(2, 1)
    data = (torch.zeros(8, 2), torch.zeros(8, 1))
    for flag, expected in ((False, True), (True, False), (None, None)):
        train.fit_torch(model, data, loss_fn=torch.nn.functional.mse_loss,
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, show_progress=flag)
        assert seen[-1] is expected
