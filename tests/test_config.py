import pytest

from course_utils import config


def test_fast_flag_values():
    assert config.fast_mode({"COURSE_FAST": "1"}) is True
    assert config.fast_mode({"COURSE_FAST": "0"}) is False
    assert config.fast_mode({}) is False


@pytest.mark.parametrize("value", ["yes", "true", "2", "on"])
def test_bad_flag_value_is_rejected_with_fix(value):
    with pytest.raises(config.ConfigError, match="expected 1 .* or 0") as err:
        config.fast_mode({"COURSE_FAST": value})
    assert "export COURSE_FAST=1" in str(err.value)


def test_unknown_course_variable_is_rejected():
    with pytest.raises(config.ConfigError, match="Unknown environment variable COURSE_FAT"):
        config.validate({"COURSE_FAT": "1"})


def test_import_with_bad_value_fails_clearly(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "COURSE_FAST": "maybe"}
    proc = subprocess.run([sys.executable, "-c", "import course_utils"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "COURSE_FAST='maybe' is not understood" in proc.stderr


def test_by_mode(monkeypatch):
    import course_utils

    monkeypatch.setattr(course_utils, "FAST", True)
    assert course_utils.by_mode(full=10, fast=1) == 1
    monkeypatch.setattr(course_utils, "FAST", False)
    assert course_utils.by_mode(full=10, fast=1) == 10
