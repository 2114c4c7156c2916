"""environment.yml, requirements/pins.txt and requirements/lock.txt agree."""
import re

import pytest


def _pins(path):
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip().lstrip("- ").strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_environment_yml_matches_pins(repo_root):
    env = _pins(repo_root / "environment.yml")
    pins = _pins(repo_root / "requirements" / "pins.txt")
    assert env == pins
    assert "python=3.11" in (repo_root / "environment.yml").read_text()


def test_lock_contains_every_pin(repo_root):
    lock = _pins(repo_root / "requirements" / "lock.txt")
    for name, version in _pins(repo_root / "requirements" / "pins.txt").items():
        assert lock.get(name, "").split("+")[0] == version, name


@pytest.mark.parametrize("banned", ["torchvision", "torchaudio", "tf-keras"])
def test_no_banned_packages(repo_root, banned):
    assert banned not in _pins(repo_root / "requirements" / "lock.txt")


def test_pins_are_inside_the_package_ranges(repo_root):
    from course_utils.env import in_tested_range

    pins = _pins(repo_root / "requirements" / "pins.txt")
    for name in ("torch", "keras", "numpy", "librosa", "matplotlib", "seaborn", "ipywidgets", "scikit-learn"):
        assert in_tested_range(name, pins[name]), name
    assert in_tested_range("tensorflow", pins["tensorflow-cpu"])


def test_no_deps_packages_stay_out_of_the_lock(repo_root):
    """fer and resemblyzer are installed with --no-deps: in the lock, pip would resolve their deps (torchvision)."""
    nodeps = _pins(repo_root / "requirements" / "nodeps.txt")
    assert {"fer", "resemblyzer"} <= set(nodeps)
    lock = _pins(repo_root / "requirements" / "lock.txt")
    pins = _pins(repo_root / "requirements" / "pins.txt")
    assert not set(nodeps) & (set(lock) | set(pins))
    makefile = (repo_root / "Makefile").read_text()
    assert "--no-deps -r requirements/nodeps.txt" in makefile
    from course_utils import colab

    assert {n.lower() for n in colab.NO_DEPS} <= set(nodeps)
