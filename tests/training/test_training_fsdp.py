"""FSDP on CPU: 2 processes (gloo) train with the EMA sharded like the network; the EMA equals
the average of the gathered weights, checkpoints and exports hold the full EMA, the sample
callback runs on every rank (sharded forwards are collectives) and rank 0 writes.

Lightning 2.6 does not run ``FSDPStrategy`` on CPU: ``Trainer(accelerator="cpu",
strategy="fsdp")`` raises "The strategy `fsdp` requires a GPU accelerator", and past that check
(a subclass) torch raises "FSDP needs a non-CPU accelerator device, but no accelerator device is
detected" because Lightning wraps with ``device_id=None`` on CPU. torch's FSDP itself runs on
CPU with ``device_id=cpu``, so the script uses a subclass of Lightning's ``FSDPStrategy`` that
passes it (two places); everything else is Lightning's strategy, with the default options
(no ``auto_wrap_policy``, like ``--trainer.strategy=fsdp``).
"""

import json
import textwrap

import torch

from polydiff.training.ema import ema_decay

SCRIPT = textwrap.dedent("""
    import json
    import sys
    from contextlib import contextmanager
    from pathlib import Path

    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.strategies import FSDPStrategy
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.fsdp.wrap import enable_wrap

    from polydiff.modalities.image import DigitsDataModule
    from polydiff.training import (DiffusionModule, SampleCallback, build_net, export,
                                   load_checkpoint)


    class CPUFSDPStrategy(FSDPStrategy):
        # Lightning's FSDPStrategy, wrapping with device_id=cpu
        def _setup_model(self, model):
            if not any(isinstance(m, FullyShardedDataParallel) for m in model.modules()):
                model = FullyShardedDataParallel(
                    model, device_id=torch.device("cpu"), cpu_offload=self.cpu_offload,
                    mixed_precision=self.mixed_precision_config,
                    sharding_strategy=self.sharding_strategy, **self.kwargs)
            return super()._setup_model(model)

        @contextmanager
        def model_sharded_context(self):
            with enable_wrap(wrapper_cls=FullyShardedDataParallel, cpu_offload=self.cpu_offload,
                             mixed_precision=self.mixed_precision_config,
                             sharding_strategy=self.sharding_strategy,
                             device_id=torch.device("cpu"), **self.kwargs):
                yield


    class Record(pl.Callback):
        # the full (gathered) network weights after every step, on rank 0
        def __init__(self):
            self.nets = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            full = trainer.strategy.lightning_module_state_dict()  # a collective
            if trainer.is_global_zero:
                self.nets.append({k[4:]: v.clone() for k, v in full.items()
                                  if k.startswith("net.")})


    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    pl.seed_everything(0)
    net = build_net("polydiff.modalities.image.unet.ImageUNet", base_channels=8,
                    channel_mult=[1, 2], attention_levels=[], dropout=0.0, num_classes=10,
                    attention_heads=1)
    module = DiffusionModule(net, lr=2e-3, ema_decay=0.9, seed=0)
    init = {k: v.clone() for k, v in module.net.state_dict().items()}
    record = Record()
    samples = SampleCallback(every_n_epochs=1, num_samples=4, steps=2)
    # validation (EMA forwards) and sampling after step 2, so EMA updates follow sharded forwards
    trainer = pl.Trainer(accelerator="cpu", strategy=CPUFSDPStrategy(process_group_backend="gloo"),
                         devices=2, max_epochs=2, limit_train_batches=2, limit_val_batches=1,
                         num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[record, samples], default_root_dir=out / "root")
    trainer.fit(module, DigitsDataModule(batch_size=16, size=8))
    rank = trainer.global_rank
    sharded = [isinstance(m, FullyShardedDataParallel) for m in (module.net, module.ema_net)]
    local = sum(p.numel() for p in module.ema_net.parameters())
    trainer.save_checkpoint(out / "m.ckpt")  # gathers: every rank
    export(module, out / f"export{rank}")     # gathers: every rank
    (out / f"written{rank}.json").write_text(json.dumps([str(p) for p in samples.written]))
    if rank == 0:
        torch.save({"init": init, "nets": record.nets}, out / "record.pt")
        export(load_checkpoint(out / "m.ckpt"), out / "export_ckpt")
    print(f"rank {rank} world {trainer.world_size} step {trainer.global_step} "
          f"sharded {sharded} local {local}", flush=True)
""")


def _weights(directory):
    from safetensors.torch import load_file

    path = directory / "model.safetensors"
    return load_file(str(path)) if path.exists() else torch.load(directory / "weights.pt",
                                                                  weights_only=True)


def test_fsdp_two_cpu_ranks_ema(tmp_path, run_ranks):
    stdout = run_ranks(SCRIPT, tmp_path, "FSDP")
    lines = sorted(line for line in stdout.splitlines() if line.startswith("rank "))
    assert [line.split(" local ")[0] for line in lines] == [
        f"rank {r} world 2 step 4 sharded [True, True]" for r in (0, 1)]
    rec = torch.load(tmp_path / "record.pt", weights_only=True)
    init, nets = rec["init"], rec["nets"]
    # each rank holds a shard of the EMA, not a copy: the local sizes add up to the full size
    full_size = sum(v.numel() for v in init.values() if v.is_floating_point())
    assert sum(int(line.split(" local ")[1]) for line in lines) == full_size

    # the checkpoint holds the plain network's keys, gathered in full
    ck = torch.load(tmp_path / "m.ckpt", weights_only=True)["state_dict"]
    assert sorted(ck) == sorted([f"net.{k}" for k in init] + [f"ema_net.{k}" for k in init])
    assert len(nets) == 4
    for k, v in nets[-1].items():
        torch.testing.assert_close(ck[f"net.{k}"], v, rtol=0, atol=0, msg=k)

    # the EMA is the average of the gathered weights after each step (decay warm-up included)
    ema = {k: v.clone() for k, v in init.items()}
    for n, net in enumerate(nets, start=1):
        for k in ema:
            ema[k].lerp_(net[k], 1 - ema_decay(n, 0.9, True))
    for k, v in ema.items():
        torch.testing.assert_close(ck[f"ema_net.{k}"], v, rtol=1e-6, atol=1e-7, msg=k)
    moved = max((ck[f"net.{k}"] - v).abs().max().item() for k, v in init.items())
    lag = max((ck[f"net.{k}"] - ck[f"ema_net.{k}"]).abs().max().item() for k in init)
    assert moved > 1e-3 and lag > 1e-4  # the EMA is neither the init nor the last weights

    # exports from inside the FSDP run (every rank) and from the checkpoint: the full EMA
    for name in ("export0", "export1", "export_ckpt"):
        w = _weights(tmp_path / name)
        assert sorted(w) == sorted(init), name
        for k, v in w.items():
            torch.testing.assert_close(v, ck[f"ema_net.{k}"], rtol=0, atol=0, msg=k)
        assert json.loads((tmp_path / name / "config.json").read_text())["ema"] is True

    # samples: every rank sampled (collectives), only rank 0 wrote, one file per epoch end
    names = ["epoch0000_step0000002.png", "epoch0001_step0000004.png"]
    sample_dir = tmp_path / "root" / "samples"
    assert json.loads((tmp_path / "written0.json").read_text()) == [
        str(sample_dir / n) for n in names]
    assert json.loads((tmp_path / "written1.json").read_text()) == []
    assert sorted(p.name for p in sample_dir.iterdir()) == names
