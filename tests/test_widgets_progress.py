import matplotlib

matplotlib.use("Agg")

from course_utils import progress, widgets  # noqa: E402


def _plot(ax, lr=0.1):
    ax.plot([0, 1], [0, lr])


def test_static_fallback_without_frontend(monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    assert widgets.has_frontend() is False
    fig = widgets.explore(_plot, "lr", [0.1, 0.5, 0.9, 1.2])
    assert hasattr(fig, "savefig")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["lr = 0.1", "lr = 0.5", "lr = 0.9", "lr = 1.2"]


def test_plain_python_has_no_frontend(monkeypatch):
    monkeypatch.delenv("COURSE_HEADLESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert widgets.has_frontend() is False  # no IPython kernel in pytest


def test_slider_builds_on_installed_ipywidgets():
    assert widgets.ipywidgets_major() in (7, 8)
    slider = widgets._float_slider("lr", [0.01, 0.1, 1.0])
    assert slider.min == 0.01 and slider.max == 1.0 and slider.value == 0.1


def test_progress_yields_everything_and_hides_in_fast_mode(monkeypatch, capsys):
    import course_utils

    monkeypatch.setattr(course_utils, "FAST", True)
    assert list(progress.progress(range(5), desc="x")) == [0, 1, 2, 3, 4]
    assert list(progress.trange(3)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
