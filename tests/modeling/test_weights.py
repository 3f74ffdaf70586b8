"""Checkpoints load without pickle's code execution; one that needs it is refused in one line
unless trusted explicitly."""

import argparse

import pytest
import torch

from facemask_rcnn.cli import main
from facemask_rcnn.inference import Predictor
from facemask_rcnn.modeling.weights import UntrustedCheckpoint, load_torch_file


class Payload:
    """Stands for any class a pickled file may name: its import would run code."""


def test_trainer_checkpoints_load_without_pickle(trained):
    checkpoint, _ = trained
    state = load_torch_file(checkpoint)  # weights_only: it would raise on anything else
    assert {"model", "optimizer", "scheduler", "config", "rng"} <= set(state)


def test_a_file_that_needs_pickle_is_refused_unless_trusted(trained, tmp_path, capsys):
    checkpoint, data = trained
    state = torch.load(checkpoint, weights_only=True)
    risky = tmp_path / "risky.pt"
    torch.save({**state, "args": argparse.Namespace(x=1), "extra": Payload()}, risky)
    with pytest.raises(UntrustedCheckpoint, match="--trust-checkpoint"):
        Predictor.from_checkpoint(risky)
    image = str(sorted((data / "val").glob("*.jpg"))[0])
    assert main(["predict", image, "--weights", str(risky), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {risky}: loading it needs pickle") and "\n" not in err
    assert not (tmp_path / "p").exists()
    args = ["predict", image, "--weights", str(risky), "--out", str(tmp_path / "q")]
    assert main([*args, "--trust-checkpoint"]) == 0
    assert (tmp_path / "q" / "summary.json").is_file()


def test_a_broken_file_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable checkpoint") as caught:
        load_torch_file(broken)
    assert "\n" not in str(caught.value)
