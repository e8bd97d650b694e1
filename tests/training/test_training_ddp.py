"""DDP on CPU: 2 processes (gloo) train the image model a few steps and end with equal weights;
the sample callback writes one set of files, from rank 0, without hanging the other rank.

Lightning's ``strategy="ddp"`` starts the other ranks by re-running the launching script, so the
training runs in a small script started with ``subprocess`` (not inside pytest's process), in
its own process group so that a hang is killed with every rank.
"""

import json
import textwrap

import torch

SCRIPT = textwrap.dedent("""
    import json
    import sys
    from pathlib import Path

    import lightning.pytorch as pl
    import torch

    from polydiff.modalities.image import DigitsDataModule
    from polydiff.training import DiffusionModule, SampleCallback, build_net

    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    pl.seed_everything(0)
    net = build_net("polydiff.modalities.image.unet.ImageUNet", base_channels=8,
                    channel_mult=[1, 2], attention_levels=[], dropout=0.1, num_classes=10,
                    attention_heads=1)
    module = DiffusionModule(net, lr=2e-3, ema_decay=0.9, cond_dropout=0.2, seed=0)
    # samples at the end of both epochs (steps 2 and 4) and at the end of training (step 4
    # again: skipped); the default directory <default_root_dir>/samples needs trainer.log_dir
    samples = SampleCallback(every_n_epochs=1, num_samples=4, steps=2)
    trainer = pl.Trainer(accelerator="cpu", strategy="ddp", devices=2, max_epochs=2,
                         limit_train_batches=2, limit_val_batches=1, num_sanity_val_steps=0,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[samples],
                         default_root_dir=out / "root")
    init = {k: v.detach().clone() for k, v in module.state_dict().items()}
    trainer.fit(module, DigitsDataModule(batch_size=16, size=8))
    rank = trainer.global_rank
    torch.save({k: v.detach().clone() for k, v in module.state_dict().items()},
               out / f"rank{rank}.pt")
    if rank == 0:
        torch.save(init, out / "init.pt")
    (out / f"written{rank}.json").write_text(json.dumps([str(p) for p in samples.written]))
    print(f"rank {rank} world {trainer.world_size} step {trainer.global_step}")
""")


def test_ddp_two_cpu_ranks_agree(tmp_path, run_ranks):
    stdout = run_ranks(SCRIPT, tmp_path, "DDP")
    assert "world 2 step 4" in stdout
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0.keys() == r1.keys() and any(k.startswith("ema_net.") for k in r0)
    for k in r0:
        torch.testing.assert_close(r0[k], r1[k], rtol=0, atol=1e-6, msg=k)
    # training moved the weights (the comparison is not between two untouched copies)
    moved = max((r0[k] - v).abs().max().item()
                for k, v in torch.load(tmp_path / "init.pt", weights_only=True).items()
                if k.startswith("net."))
    assert moved > 1e-4

    # samples: rank 0 wrote one file per epoch end (the end of training repeats step 4, so
    # nothing more); rank 1 wrote nothing
    written0 = json.loads((tmp_path / "written0.json").read_text())
    written1 = json.loads((tmp_path / "written1.json").read_text())
    names = ["epoch0000_step0000002.png", "epoch0001_step0000004.png"]
    sample_dir = tmp_path / "root" / "samples"
    assert written0 == [str(sample_dir / n) for n in names] and written1 == []
    assert sorted(p.name for p in sample_dir.iterdir()) == names
