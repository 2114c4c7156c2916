import pytest

from course_utils import paths


def test_finds_datasets_from_repo(repo_root):
    assert paths.datasets_dir() == repo_root / "datasets"


def test_finds_datasets_from_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # From another working directory the package's own repo still wins.
    assert paths.datasets_dir().name == "datasets"


def test_override_and_missing_data_message(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert paths.datasets_dir() == tmp_path
    with pytest.raises(paths.DataNotFoundError) as err:
        paths.datasets_dir(required="does-not-exist")
    message = str(err.value)
    assert "datasets/does-not-exist" in message and "make dataset" in message and "COURSE_DATA" in message


def test_installed_package_without_repo(tmp_path, monkeypatch):
    # Simulate an installed package (no repo around it) run from a Colab-like clone.
    monkeypatch.setattr(paths, "repo_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    clone = tmp_path / "colab"
    from course_utils.colab import REPO_NAME

    (clone / REPO_NAME / "datasets").mkdir(parents=True)
    monkeypatch.setenv("COURSE_COLAB_ROOT", str(clone))
    assert paths.datasets_dir() == clone / REPO_NAME / "datasets"


def test_cache_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "c"))
    assert paths.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


# --------------------------------------------------------------------------- caches on read-only installs
# Tests run as root, where chmod does not stop writes: an unwritable folder is simulated by a path
# below a regular file, which no user (root included) can create.
def _blocked(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker


def test_unwritable_course_cache_names_the_variable_and_the_fix(tmp_path, monkeypatch):
    from course_utils.config import CacheError, CourseError

    monkeypatch.setenv("COURSE_CACHE", str(_blocked(tmp_path) / "cache"))
    with pytest.raises(CacheError) as err:
        paths.cache_dir()
    assert isinstance(err.value, CourseError) and isinstance(err.value, OSError)
    message = str(err.value)
    assert "COURSE_CACHE=" in message and "Expected:" in message and "Found:" in message
    assert "export COURSE_CACHE=" in message and "unset COURSE_CACHE" in message


def test_read_only_datasets_fall_back_to_the_user_cache(tmp_path, monkeypatch):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / ".cache").write_text("a file where the cache folder would go")  # datasets/.cache unusable
    monkeypatch.setenv("COURSE_DATA", str(datasets))
    monkeypatch.delenv("COURSE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == tmp_path / "xdg" / "multimodal-course"
    # no writable home cache either: a per-user temporary folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(_blocked(tmp_path) / "xdg"))
    monkeypatch.setattr(paths.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    got = paths.cache_dir()
    assert got.parent == tmp_path / "tmp" and got.name.startswith("multimodal-course-") and got.is_dir()


def test_writable_datasets_keep_the_cache_beside_the_data(tmp_path, monkeypatch):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    monkeypatch.setenv("COURSE_DATA", str(datasets))
    monkeypatch.delenv("COURSE_CACHE", raising=False)
    assert paths.cache_dir() == datasets / ".cache"
    assert not list((datasets / ".cache").iterdir())  # the write probe leaves nothing behind


def test_feature_cache_on_read_only_data_goes_to_the_user_cache(tmp_path, monkeypatch, repo_root):
    from course_utils.data import features

    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "sentiment").symlink_to(repo_root / "datasets" / "sentiment")
    (datasets / ".cache").write_text("blocked")
    monkeypatch.setenv("COURSE_DATA", str(datasets))
    monkeypatch.delenv("COURSE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    out = features.cached("demo", {"k": 1}, lambda: {"X": [1.0, 2.0]})
    assert list(out["X"]) == [1.0, 2.0]
    assert list((tmp_path / "xdg" / "multimodal-course" / "sentiment").glob("demo-*.npz"))


# --------------------------------------------------------------------------- working copy for make lab
def test_sync_workspace_copies_missing_lessons_and_never_overwrites(tmp_path):
    src, dst = tmp_path / "notebooks", tmp_path / "my-notebooks"
    src.mkdir()
    (src / "00_setup.ipynb").write_text("lesson 0 v1")
    (src / "01_losses.ipynb").write_text("lesson 1 v1")
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "00_setup-checkpoint.ipynb").write_text("checkpoint")
    copied = paths.sync_workspace(src, dst)
    assert sorted(p.name for p in copied) == ["00_setup.ipynb", "01_losses.ipynb"]
    assert not (dst / ".ipynb_checkpoints").exists()
    # the learner edits lesson 0, deletes lesson 1; upstream changes lesson 0 and adds lesson 2
    (dst / "00_setup.ipynb").write_text("my answers")
    (dst / "01_losses.ipynb").unlink()
    (src / "00_setup.ipynb").write_text("lesson 0 v2")
    (src / "02_new.ipynb").write_text("lesson 2 v1")
    copied = paths.sync_workspace(src, dst)
    assert sorted(p.name for p in copied) == ["01_losses.ipynb", "02_new.ipynb"]
    assert (dst / "00_setup.ipynb").read_text() == "my answers"  # never overwritten
    assert (dst / "02_new.ipynb").read_text() == "lesson 2 v1"
    assert paths.sync_workspace(src, dst) == []  # idempotent
    assert not list(dst.glob(".*.tmp"))


def test_sync_workspace_without_notebooks_says_how_to_fix(tmp_path):
    with pytest.raises(paths.DataNotFoundError, match="make lab"):
        paths.sync_workspace(tmp_path / "nope", tmp_path / "dst")


def test_workspace_is_git_ignored(repo_root):
    import subprocess

    proc = subprocess.run(["git", "check-ignore", "-q", f"{paths.WORKSPACE_NAME}/00_setup.ipynb"], cwd=repo_root)
    assert proc.returncode == 0, "my-notebooks/ must be listed in .gitignore"


def test_lab_url_opens_lesson_zero_with_the_token():
    assert paths.lab_url("127.0.0.1", 8888, "abc") == "http://127.0.0.1:8888/lab/tree/my-notebooks/00_setup.ipynb?token=abc"
    assert paths.lab_url("0.0.0.0", "9999", "t").startswith("http://127.0.0.1:9999/lab/tree/")
    assert paths.lab_url("::1", 1, "").endswith("[::1]:1/lab/tree/my-notebooks/00_setup.ipynb")


def test_make_lab_uses_the_workspace_and_prints_the_url(repo_root):
    import subprocess

    proc = subprocess.run(["make", "-n", "lab", "LAB_TOKEN=tok"], cwd=repo_root, capture_output=True, text=True)
    recipe = proc.stdout
    assert "course_utils.paths sync" in recipe and "course_utils.paths url" in recipe
    assert "default_url=/lab/tree/my-notebooks/00_setup.ipynb" in recipe
    assert "JUPYTER_TOKEN=" in recipe and "port_retries=0" in recipe
