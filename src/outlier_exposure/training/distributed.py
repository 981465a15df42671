"""Multi-process training with torch.distributed, launched by `torchrun`.

    torchrun --nproc_per_node 4 -m outlier_exposure.cli train ...      (one machine, 4 GPUs)
    torchrun --nnodes 2 --node_rank R --master_addr HOST --nproc_per_node 8 -m outlier_exposure.cli train ...

`torchrun` sets RANK, LOCAL_RANK and WORLD_SIZE; with WORLD_SIZE > 1 every rank joins one
process group (NCCL on GPUs, gloo on CPUs). Every rank draws the SAME global batch (same seeds)
and takes its own contiguous shard of it, so a run on N processes sees the data of a
single-process run with the same global batch; gradients are averaged by
DistributedDataParallel. Only rank 0 writes run files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import UserInputError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group when launched by torchrun; return the context and this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserInputError(
                f"torchrun started {world_size} processes but this machine has "
                f"{torch.cuda.device_count()} GPUs; lower --nproc_per_node"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Context(rank=rank, world_size=world_size, local_rank=local_rank), device


def shard(batch: torch.Tensor, ctx: Context) -> torch.Tensor:
    """This rank's contiguous part of a global batch (sizes differ by at most one)."""
    if not ctx.distributed:
        return batch
    return batch.tensor_split(ctx.world_size)[ctx.rank]


def sum_across_ranks(tensor: torch.Tensor, ctx: Context) -> torch.Tensor:
    if ctx.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def wrap_model(model: torch.nn.Module, ctx: Context, device: torch.device,
               sync_batchnorm: bool) -> torch.nn.Module:
    """DistributedDataParallel around the model; batch-norm statistics per device (as the
    reference's DataParallel) unless `sync_batchnorm`, which needs GPUs."""
    if sync_batchnorm:
        if device.type != "cuda":
            raise UserInputError("--sync-bn needs GPUs (PyTorch's SyncBatchNorm runs on CUDA only)")
        if ctx.distributed:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if not ctx.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
