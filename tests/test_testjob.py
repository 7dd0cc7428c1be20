"""The controllable test job kind."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pytaaad.errors import ConfigError, JobStopped
from pytaaad.testjob import ControlledJobKind

KIND = ControlledJobKind()


def _config(tmp_path: Path, **section: object) -> Path:
    path = tmp_path / "job.json"
    path.write_bytes(orjson.dumps({"testjob": {"output_dir": "out", **section}}))
    return path


def test_prepare_reads_trials_chunks_and_outputs(tmp_path: Path) -> None:
    """A valid config gives its trial count, chunks and output folder."""
    prepared = KIND.prepare(_config(tmp_path, trials=5, chunk_size=2), None, None)
    assert prepared.trials == 5
    assert prepared.output_dirs == (tmp_path / "out",)
    assert KIND.chunks(prepared.spec, 2) == [[0, 1], [2, 3], [4]]
    assert KIND.prepare(_config(tmp_path), 7, None).trials == 7


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"trials": 0}, "testjob.trials must be an integer >= 1"),
        ({"colour": "red"}, "unknown key testjob.colour"),
        ({"hang_at_trial": -1}, "testjob.hang_at_trial must be a trial id >= 0"),
        ({"data_file": "missing.csv"}, "data file"),
    ],
)
def test_bad_configs_raise_config_errors(
    tmp_path: Path, section: dict[str, object], message: str
) -> None:
    """Invalid test job configs raise ConfigError naming the key."""
    with pytest.raises(ConfigError, match=message):
        KIND.prepare(_config(tmp_path, **section), None, None)


def test_trials_stop_at_the_boundary_when_asked(tmp_path: Path) -> None:
    """run_trials reports each trial and raises JobStopped once should_stop holds."""
    spec = KIND.prepare(_config(tmp_path, trials=5), None, None).spec
    done: list[int] = []
    with pytest.raises(JobStopped):
        KIND.run_trials(spec, [0, 1, 2, 3], done.append, lambda: len(done) >= 2)
    assert done == [0, 1]


def test_render_writes_only_into_staging(tmp_path: Path) -> None:
    """render_outputs writes into the staging folder and names the final path."""
    spec = KIND.prepare(_config(tmp_path, label="x"), None, None).spec
    ((staged, final),) = KIND.render_outputs(spec, [0], "tok", {}, "text")
    assert staged.parent == KIND.staging_dirs(spec, "tok")[0]
    assert staged.read_text() == "label=x\ntrials=1\n"
    assert final == tmp_path / "out" / "job.txt"
    assert not final.exists()
