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
