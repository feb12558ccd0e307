from __future__ import annotations

import pytest

from clcm.cli import data, train


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        data.main(["--version"])
    assert exc.value.code == 0 and "clcm-data 0.1.0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command", ["import", "translate", "convert-model", "score", "filter", "run", "inspect", "export"]
)
def test_data_help_lists_planned_commands(capsys, command):
    with pytest.raises(SystemExit) as exc:
        data.main(["--help"])
    assert exc.value.code == 0
    assert command in capsys.readouterr().out


def test_train_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "train" in out and "evaluate" in out


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        data.main(["no-such-command"])
    assert exc.value.code == 2
