"""Training on a handful of 96 px synthetic images: stages, checkpoints, resume, guards, DDP."""

import os
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from facemask_rcnn.cli import main
from facemask_rcnn.config import load_config
from facemask_rcnn.data import MaskDataset
from facemask_rcnn.data.records import ImageRecord, Instance
from facemask_rcnn.data.training.sampling import RepeatFactorSampler
from facemask_rcnn.engine import TrainingDiverged, TrainingError, train
from facemask_rcnn.engine import trainer as trainer_module
from facemask_rcnn.engine.layers import (
    build_scheduler,
    param_groups,
    set_trainable,
    trainable_names,
)
from facemask_rcnn.engine.logs import read_metrics
from facemask_rcnn.engine.trainer import _loader, weight_average
from facemask_rcnn.modeling import build_model
from facemask_rcnn.synth import synthesize
from tests.conftest import TINY, tiny_config, write_extreme_dataset

pytestmark = pytest.mark.slow  # every test here trains, if only for a step


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    synthesize(out, n=10, seed=5, size=96)  # 8 train, 2 val
    return out


def _backbone(model):
    return {
        k: v.detach().clone() for k, v in model.named_parameters() if k.startswith("backbone.body")
    }


def test_stage_layers_select_matterport_groups():
    model = build_model(tiny_config(), weights="none")
    heads = set(trainable_names(model, "heads"))
    assert heads and not any(n.startswith("backbone.body") for n in heads)
    four = set(trainable_names(model, "4+"))
    assert heads < four < set(trainable_names(model, "3+")) < set(trainable_names(model, "all"))
    assert all(model.backbone_stages[n] >= 4 for n in four - heads)
    assert trainable_names(model, r"mask_head") == [
        n for n, _ in model.named_parameters() if "mask_head" in n
    ]
    with pytest.raises(TrainingError, match="selects no parameter"):
        set_trainable(model, "no_such_layer")


def test_layer_wise_decay_gives_smaller_rates_near_the_input():
    model = build_model(tiny_config(), weights="none")
    set_trainable(model, "all")
    groups = {g["name"]: g["lr"] for g in param_groups(model, 0.01, 0.5)}
    assert (
        groups["heads"] == 0.01 and groups["stage5"] == 0.005 and groups["stage1"] == 0.01 * 0.5**5
    )
    assert sum(len(g["params"]) for g in param_groups(model, 0.01, 0.5)) == len(
        list(model.parameters())
    )


def test_schedule_anneals_by_iterations_or_by_the_time_budget_whichever_is_further():
    def rates(time_share):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        scheduler = build_scheduler(optimizer, 0, 100, time_share)
        out = []
        for _ in range(4):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return out

    assert rates(None) == pytest.approx([1.0, 0.99977, 0.99906, 0.99790], abs=1e-5)
    assert rates(lambda: 0.0) == rates(None)
    assert rates(lambda: 0.5) == pytest.approx([0.525] * 4)  # cosine half-way: (1 + 0.05) / 2
    assert rates(lambda: 3.0) == pytest.approx([0.05] * 4)  # past the deadline: the floor


def test_stages_loss_falls_heads_freeze_backbone_and_best_is_lowest_val_loss(
    data, tmp_path, monkeypatch
):
    snapshots = {}
    real = trainer_module.train_one_epoch

    def spy(model, loader, optimizer, *args, **kwargs):
        before = _backbone(model)
        result = real(model, loader, optimizer, *args, **kwargs)
        snapshots.setdefault(args[3], (before, _backbone(model)))
        return result

    monkeypatch.setattr(trainer_module, "train_one_epoch", spy)
    config = tiny_config(
        "[{layers: heads, epochs: 3, lr: 0.01}, {layers: all, epochs: 1, lr: 0.005}]"
    )
    result = train(config, data, tmp_path / "run")
    rows = read_metrics(result.run_dir / "metrics.csv")
    assert [r["layers"] for r in rows] == ["heads", "heads", "heads", "all"]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    heads = [v for k, v in snapshots.items() if "[heads" in k]
    for before, after in heads:
        assert all(torch.equal(before[k], after[k]) for k in before)
    before, after = [v for k, v in snapshots.items() if "[all" in k][0]
    assert sum(not torch.equal(before[k], after[k]) for k in before) > 0.9 * len(before)
    best = torch.load(result.run_dir / "best.pt", weights_only=False)
    lowest = min(rows, key=lambda r: float(r["val_loss"]))
    assert best["epoch"] == int(lowest["epoch"])
    last = torch.load(result.run_dir / "last.pt", weights_only=False)
    assert {
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "epoch",
        "config",
        "class_names",
        "progress",
        "version",
        "rng",
    } <= set(last)
    assert last["progress"]["best_epoch"] == int(lowest["epoch"]) == result.summary.best_epoch
    assert (result.run_dir / "loss.png").stat().st_size > 0
    assert (result.run_dir / "config.yaml").is_file()


@pytest.mark.parametrize(("ema_decay", "killed_after"), [(0.0, 3), (0.9, 3), (0.0, 2)])
def test_resume_after_a_kill_reproduces_the_uninterrupted_run(
    data, tmp_path, monkeypatch, ema_decay, killed_after
):
    """Killed mid-stage (after epoch 3) or at the stage boundary (after epoch 2)."""
    config = tiny_config(
        "[{layers: heads, epochs: 2, lr: 0.01}, {layers: all, epochs: 2, lr: 0.005}]",
        "augment=strong",
        f"ema_decay={ema_decay}",
    )
    full = train(config, data, tmp_path / "full")
    saves = []
    real_save = trainer_module.save_checkpoint

    def killed(path, state):
        real_save(path, state)
        saves.append(path.name)
        if saves.count("last.pt") == killed_after:
            raise KeyboardInterrupt  # as if killed right after that epoch's checkpoint

    monkeypatch.setattr(trainer_module, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        train(config, data, tmp_path / "part")
    monkeypatch.setattr(trainer_module, "save_checkpoint", real_save)
    resumed = train(config, data, tmp_path / "part", resume=True)
    assert [r["epoch"] for r in resumed.metrics] == [1, 2, 3, 4]
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    last = torch.load(full.run_dir / "last.pt", weights_only=False)
    assert all(torch.equal(a[k], last["model"][k]) for k in a)  # the returned model is the saved
    if ema_decay:  # ... average, and the raw weights, which differ from it, are kept to resume
        raw = last["training_model"]
        assert any(not torch.equal(a[k], raw[k]) for k in a)
    else:
        assert "training_model" not in last


def test_weight_average_counts_early_steps_fully_then_ramps_to_its_decay():
    layer = torch.nn.Linear(1, 1, bias=False)
    assert weight_average(layer, 0.0) is None
    for decay, expected in [(0.9, 2 ** (-2 / 3)), (0.3, 0.7)]:
        average = weight_average(layer, decay)
        for step, value in [(1, 0.0), (2, 1.0)]:
            layer.weight.data.fill_(value)
            average.update(layer, step=step)
        # step 1 copies the weight (0); step 2 keeps 1 - 2**(-2/3) = 0.37 of that average and
        # takes the rest from the new weight (1), or keeps ``decay`` when that is lower
        assert average.module.weight.item() == pytest.approx(expected)


def test_nan_loss_stops_with_step_files_and_last_checkpoint(data, tmp_path):
    config = tiny_config(
        "[{layers: heads, epochs: 1, lr: 0.01}]", "loss_weights={mrcnn_mask: .nan}"
    )
    with pytest.raises(TrainingDiverged) as err:
        train(config, data, tmp_path / "nan")
    message = str(err.value)
    assert "non-finite loss at step 0" in message and "batch: synth_train_" in message
    assert f"last good checkpoint: {tmp_path / 'nan' / 'last.pt'}" in message


def test_run_folder_is_never_reused_and_empty_data_is_a_clear_error(data, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_text("keep")
    result = train(tiny_config("[{layers: heads, epochs: 1, lr: 0.01}]"), data, tmp_path / "run")
    assert result.run_dir == tmp_path / "run-2"
    assert (tmp_path / "run" / "mine.txt").read_text() == "keep"
    empty = tmp_path / "empty" / "train"
    empty.mkdir(parents=True)
    (empty / "via_region_data.json").write_text("{}")
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) in (
        1,
        2,
    )
    assert "error:" in capsys.readouterr().err


def test_stage_option_runs_one_stage_from_last_or_a_checkpoint(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sets = [a for o in TINY for a in ("--set", o)]
    sets += ["--set", "schedule=[{layers: heads, epochs: 1, lr: 0.01}, {layers: all, epochs: 1}]"]
    assert main(["train", "--data", str(data), "--stage", "heads", "--out", "runs/h", *sets]) == 0
    assert main(["train", "--data", str(data), "--stage", "all", "--weights", "last",
                 "--out", "runs/a", *sets]) == 0  # fmt: skip
    rows = read_metrics(tmp_path / "runs" / "a" / "metrics.csv")
    assert [r["layers"] for r in rows] == ["all"]
    # the bootstrapping round trip: fine-tune a checkpoint on two datasets within a budget
    best = str(tmp_path / "runs" / "h" / "best.pt")
    tune = ["--weights", best, "--stage", "all", "--time-budget", "5", "--out", "runs/t"]
    assert main(["train", "--data", str(data), "--data", str(data), *tune, *sets]) == 0
    tuned = read_metrics(tmp_path / "runs" / "t" / "metrics.csv")
    assert [r["layers"] for r in tuned] == ["all"]
    assert int(tuned[0]["images"]) == 2 * int(rows[0]["images"])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(
    rank, world, port, data, out, results, ema_decay, budget=None, resume=False, stage=None
):
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    if budget and rank == 1:  # rank 1's clock runs 4x fast: alone, it would stop steps early
        real = trainer_module.time.perf_counter
        trainer_module.time.perf_counter = lambda: 4 * real()
    real_epoch = trainer_module.train_one_epoch

    def epoch_with_a_draw(*args, **kwargs):
        draws.append(float(torch.rand(1)))  # the rank's own augmentation stream
        return real_epoch(*args, **kwargs)

    draws: list[float] = []
    trainer_module.train_one_epoch = epoch_with_a_draw
    schedule = "[{layers: heads, epochs: 1, lr: 0.01}, {layers: all, epochs: 1, lr: 0.005}]"
    if budget:
        schedule = "[{layers: heads, epochs: 6, lr: 0.01}, {layers: all, epochs: 2, lr: 0.005}]"
    config = tiny_config(schedule, f"ema_decay={ema_decay}")
    result = train(config, data, out, stage=stage, time_budget=budget, resume=resume)
    torch.save(
        {"model": result.model.state_dict(), "draws": draws, "epochs": len(result.metrics)},
        f"{results}/rank{rank}.pt",
    )
    torch.distributed.destroy_process_group()


def _spawn(args, seconds=240):
    """Two gloo processes; fails (instead of hanging the suite) when they do not finish."""
    import torch.multiprocessing as mp

    context = mp.spawn(_ddp_worker, args=(2, _free_port(), *args), nprocs=2, join=False)
    deadline = time.monotonic() + seconds
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"DDP ranks still running after {seconds} s: a rank waits alone")
    ranks = [torch.load(args[2] / f"rank{r}.pt") for r in (0, 1)]
    a, b = (r["model"] for r in ranks)
    assert all(torch.equal(a[k], b[k]) for k in a)
    return ranks


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])  # with it, each rank's average of the weights
def test_two_process_gloo_ddp_ends_with_identical_weights(data, tmp_path, ema_decay):
    ranks = _spawn((data, tmp_path / "run", tmp_path, ema_decay))
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 2  # only rank 0 writes
    assert ranks[0]["draws"][0] != ranks[1]["draws"][0]  # seeded seed + rank


def test_two_process_time_budget_stop_together_then_resume(tmp_path):
    data = tmp_path / "data"
    synthesize(data, n=14, seed=2, size=128)  # 12 train images: 3 steps a rank an epoch
    ranks = _spawn((data, tmp_path / "run", tmp_path, 0.0, 3.0, False, "heads"))
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert ranks[0]["epochs"] == ranks[1]["epochs"] == len(rows) < 6  # the budget cut it
    assert {r["layers"] for r in rows} == {"heads"}
    before = len(rows)
    _spawn((data, tmp_path / "run", tmp_path, 0.0, None, True))  # the whole schedule
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert [r["layers"] for r in rows[before:]] == ["all", "all"]


def test_time_budget_ends_each_stage_early(data, tmp_path):
    config = tiny_config(
        "[{layers: heads, epochs: 3, lr: 0.01}, {layers: all, epochs: 3, lr: 0.005}]"
    )
    result = train(config, data, tmp_path / "budget", time_budget=1e-3)
    assert [(r["layers"], r["images"]) for r in result.metrics] == [("heads", 2), ("all", 2)]
    # cut after one batch, each stage still ends at its floor rate (5 %), not mid-schedule
    assert [r["lr"] for r in result.metrics] == pytest.approx([0.01 * 0.05, 0.005 * 0.05])


def test_several_datasets_and_a_folder_without_splits(data, tmp_path):
    from facemask_rcnn.engine.splits import load_splits

    flat = tmp_path / "flat"
    synthesize(flat / "tmp", n=12, seed=1, size=64)
    (flat / "tmp" / "train").rename(flat / "all")  # one folder, no split sub-folders
    config = tiny_config()
    one_train, one_val, _ = load_splits(data, config)
    flat_train, flat_val, _ = load_splits(flat / "all", config)
    both_train, both_val, names = load_splits([data, flat / "all"], config)
    assert len(both_train) == len(one_train) + len(flat_train)
    assert len(both_val) == len(one_val) + len(flat_val)
    assert len(flat_val) == -(-(len(flat_train) + len(flat_val)) // 10)  # every 10th held out
    assert names == ["face_mask"]


def test_synthetic_scenes_join_single_class_training_only(data, tmp_path, caplog):
    schedule = "[{layers: heads, epochs: 1, lr: 0.01}]"
    config = tiny_config(schedule, "synthetic_scenes=4")
    result = train(config, data, tmp_path / "mixed")
    rendered = sorted((result.run_dir / "synthetic" / "train").glob("*.jpg"))
    assert len(rendered) == 4
    assert result.metrics[0]["images"] == 8 + 4  # the dataset's train split + the scenes
    multi = tiny_config(schedule, "synthetic_scenes=4", "class_attribute=type")
    result = train(multi, data, tmp_path / "multi")
    assert not (result.run_dir / "synthetic").exists()
    assert result.metrics[0]["images"] == 8
    assert "synthetic_scenes=4 ignored" in caplog.text


def test_tile_crop_setting_reaches_the_training_transforms(data, tmp_path, monkeypatch):
    from facemask_rcnn.data.training.transforms import TileCrop

    built = []

    class Recording(trainer_module.MaskDataset):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(trainer_module, "MaskDataset", Recording)
    schedule = "[{layers: heads, epochs: 1, lr: 0.01}]"
    train(
        tiny_config(schedule, "augment=strong", "tile_crop=0.7"),
        data,
        tmp_path / "run",
        time_budget=1e-3,
    )
    steps = built[0].transforms.transforms  # the training set; the validation set is plain
    assert [t.p for t in steps if isinstance(t, TileCrop)] == [0.7]
    assert built[1].transforms is None


def test_val_ap50_picks_best_only_among_epochs_that_computed_it(data, tmp_path, monkeypatch):
    scores = iter([0.5, 0.3])
    monkeypatch.setattr(trainer_module, "val_ap50", lambda *args, **kwargs: next(scores))
    config = tiny_config(
        "[{layers: heads, epochs: 4, lr: 0.01}]", "best_metric=val_ap50", "val_ap_every=2"
    )
    result = train(config, data, tmp_path / "ap")
    assert [r.get("val_ap50") for r in result.metrics] == [None, 0.5, None, 0.3]
    assert torch.load(result.run_dir / "best.pt")["epoch"] == 2  # not an epoch with a loss only
    assert result.summary.best_epoch == 2 and result.summary.best_value == 0.5
    assert result.summary.last_val_ap50 == 0.3
    with pytest.raises(ValueError, match="val_ap_every"):
        tiny_config(
            "[{layers: heads, epochs: 1, lr: 0.01}]", "best_metric=val_ap50", "val_ap_every=0"
        )


@pytest.mark.parametrize("ended_by", ["patience", "time budget"])
def test_resume_after_a_stage_ended_early_starts_the_next_stage(
    data, tmp_path, monkeypatch, ended_by
):
    schedule = "[{layers: heads, epochs: 4, lr: 0.01}, {layers: all, epochs: 1, lr: 0.005}]"
    config, budget = tiny_config(schedule, "patience=1"), None
    if ended_by == "patience":
        losses = iter([1.0, 2.0])  # the second epoch is worse: patience 1 ends the stage
        monkeypatch.setattr(
            trainer_module, "validation_loss", lambda *args: {"val_loss": next(losses)}
        )
    else:
        budget = 1e-3  # each stage is cut after its first batch
    real_save = trainer_module.save_checkpoint

    def killed(path, state):
        real_save(path, state)
        if path.name == "last.pt" and state["progress"]["stage_done"]:
            raise KeyboardInterrupt  # killed right after the stage ended

    monkeypatch.setattr(trainer_module, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        train(config, data, tmp_path / "run", time_budget=budget)
    monkeypatch.undo()
    resumed = train(config, data, tmp_path / "run", resume=True)
    layers = [r["layers"] for r in resumed.metrics]
    assert layers == ["heads"] * (2 if ended_by == "patience" else 1) + ["all"]


def test_one_annotation_file_is_never_its_own_validation_set(data, tmp_path, caplog):
    from facemask_rcnn.engine.splits import load_splits

    config = tiny_config()
    single = data / "train" / "via_region_data.json"
    train_records, val_records, _ = load_splits(single, config)
    assert len(train_records) + len(val_records) == 8 and len(val_records) == 1
    assert not {r.path for r in train_records} & {r.path for r in val_records}
    assert "no split folders; holding out every 10th" in caplog.text


def test_the_test_split_validates_only_when_asked(tmp_path, caplog):
    from facemask_rcnn.engine.splits import load_splits

    synthesize(tmp_path / "d", n=10, seed=1, size=64)
    (tmp_path / "d" / "train").rename(tmp_path / "d" / "training")
    (tmp_path / "d" / "val").rename(tmp_path / "d" / "testing")  # MaskedFace's layout
    held_train, held_val, _ = load_splits(tmp_path / "d", tiny_config())
    asked = tiny_config("[{layers: heads, epochs: 1, lr: 0.01}]", "val_split=test")
    asked_train, asked_val, _ = load_splits(tmp_path / "d", asked)
    paths = [r.path for r in asked_train]
    assert [r.path for r in held_val] == paths[:1]  # held out of training, not the test split
    assert [r.path for r in held_train] == paths[1:]
    assert len(asked_val) == 2 and asked_val[0].path.parent.name == "testing"
    assert "validating on the test split" in caplog.text


def test_one_grad_scaler_is_saved_and_restored_on_resume(data, tmp_path, monkeypatch):
    """The scaler a run uses (CUDA's mixed precision; a CPU one stands in here) is one object
    for the whole run, saved in each checkpoint and loaded back by --resume."""
    made = []

    def scaler(device):
        made.append(torch.amp.GradScaler("cpu", init_scale=64.0, growth_interval=1))
        return made[-1]

    monkeypatch.setattr(trainer_module, "mixed_precision_scaler", scaler)
    config = tiny_config("[{layers: heads, epochs: 2, lr: 0.01}]")
    real_save = trainer_module.save_checkpoint

    def killed(path, state):
        real_save(path, state)
        if path.name == "last.pt":
            raise KeyboardInterrupt  # after the first epoch

    monkeypatch.setattr(trainer_module, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        train(config, data, tmp_path / "run")
    saved = torch.load(tmp_path / "run" / "last.pt")["scaler"]
    assert len(made) == 1 and saved["scale"] == made[0].get_scale() > 64.0  # it grew each step
    monkeypatch.setattr(trainer_module, "save_checkpoint", real_save)
    train(config, data, tmp_path / "run", resume=True)
    assert len(made) == 2 and made[1].get_scale() > saved["scale"]  # continued, not restarted


def _face_boxes_coco(data, folder):
    """The val split's faces as a COCO file of face boxes without outlines (statuses as labels),
    written beside its images."""
    import dataclasses

    from facemask_rcnn.data import load_records
    from facemask_rcnn.data.faces import face_records
    from facemask_rcnn.data.formats.coco import write_coco

    records, _ = load_records(data, "val")
    faces = face_records(records)
    for record in faces:
        record.instances = [dataclasses.replace(i, polygons=[]) for i in record.instances]
    path = data / "val" / folder
    write_coco(faces, path, ["masked", "incorrect", "bare"])
    return path


def test_face_boxes_and_task_faces_point_to_the_face_head(data, tmp_path):
    boxes = _face_boxes_coco(data, "face_boxes.json")
    with pytest.raises(TrainingError, match=r"face statuses: train the face head \(--config"):
        train(tiny_config(), [boxes], tmp_path / "masks")  # a masks model cannot use them
    with pytest.raises(TrainingError, match="task: faces: this trains a masks model"):
        train(tiny_config("[{layers: heads, epochs: 1, lr: 0.01}]", "task=faces"), data, tmp_path)


def test_repeat_threshold_draws_rare_class_images_more_often_in_training_only():
    records = [
        ImageRecord(Path(f"{i}.jpg"), 10, 10, [Instance(label, bbox=(1, 1, 5, 5))])
        for i, label in enumerate(["masked"] * 9 + ["bare"])
    ]
    config = load_config(overrides=["class_names=[masked, bare]", "repeat_threshold=0.5"])
    dataset = MaskDataset(records, config.class_names)
    loader = _loader(dataset, config, shuffle=True, epoch=0)
    assert isinstance(loader.sampler, RepeatFactorSampler)
    drawn = Counter(loader.sampler)
    assert drawn[9] in (2, 3) and all(drawn[i] == 1 for i in range(9))  # sqrt(0.5 / 0.1) = 2.24
    assert len(_loader(dataset, config, shuffle=False, epoch=0).sampler) == len(records)


def test_an_int8_stage_fine_tunes_with_rounding_and_norms_held_then_saves_a_float_model(
    data, tmp_path, caplog
):
    first = train(tiny_config("[{layers: heads, epochs: 1, lr: 0.01}]", "fpn_norm=batch"), data,
                  tmp_path / "float").run_dir / "best.pt"  # fmt: skip
    config = tiny_config("[{layers: all, epochs: 1, lr: 0.005, int8: true}]", "fpn_norm=batch")
    with caplog.at_level("INFO"):
        result = train(config, data, tmp_path / "int8", weights=str(first))
    assert "int8 rounding simulated in 68 layers" in caplog.text
    before = torch.load(first, weights_only=False)["model"]
    after = torch.load(result.run_dir / "last.pt", weights_only=False)["model"]
    assert after.keys() == before.keys()  # a checkpoint like any other
    norms = [k for k in before if k.startswith("backbone.fpn.") and "running_" in k]
    assert len(norms) == 16 and all(torch.equal(before[k], after[k]) for k in norms)
    weights = [k for k in before if k.endswith(".weight") and "running" not in k]
    assert sum(not torch.equal(before[k], after[k]) for k in weights) > 50  # trained
    assert all(type(m).__module__.startswith("torch.") for m in result.model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))  # fmt: skip


@pytest.mark.parametrize("size", [64, 256])
def test_a_dataset_of_extreme_photo_shapes_trains_and_validates(tmp_path, size):
    data = write_extreme_dataset(tmp_path / "d")
    config = tiny_config("[{layers: heads, epochs: 1, lr: 0.01}]", f"image_size={size}")
    result = train(config, data, tmp_path / "run")
    assert result.summary.epochs == 1 and result.metrics[0]["images"] == 5
    losses = torch.tensor([result.metrics[0]["loss"], result.summary.best_value])
    assert torch.isfinite(losses).all()
