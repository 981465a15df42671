"""Optional TensorBoard logging of the per-epoch training record (`--tensorboard`).

Every run already writes `log.jsonl` (one JSON line per epoch) and `oe report` draws its
training curves from it; TensorBoard is for watching a run live. The scalars go to
`RUN/tensorboard/` as `train/<key>` (loss, loss_in, loss_oe, train_acc, lr, images_per_s,
seconds) at the global step of the epoch's end. View them with
`tensorboard --logdir RUN/tensorboard`.

`torch.utils.tensorboard` needs the `tensorboard` package, which is not a dependency: asking
for the log without it fails before training starts, with the command that installs it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError

FOLDER = "tensorboard"


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises this when the tensorboard package is missing
        raise UserInputError(
            "--tensorboard needs the tensorboard package: python3 -m pip install tensorboard "
            "(or leave out --tensorboard; log.jsonl holds the same numbers)"
        ) from None
    return SummaryWriter


class TensorBoardLog:
    """Writes epoch records as scalars when `enabled`; does nothing otherwise.

    The check that TensorBoard is installed happens here, at construction; the event file is
    only created with the first record, so a run stopped by bad input leaves no folder behind.
    """

    def __init__(self, run_dir: str | Path, enabled: bool = True):
        self.folder = Path(run_dir) / FOLDER
        self._writer_class = _summary_writer_class() if enabled else None
        self._writer = None

    def write(self, record: dict) -> None:
        if self._writer_class is None:
            return
        if self._writer is None:
            self._writer = self._writer_class(log_dir=str(self.folder))
        step = int(record.get("step", record.get("epoch", 0)))
        for key, value in record.items():
            if key not in ("epoch", "step") and isinstance(value, (int, float)):
                self._writer.add_scalar(f"train/{key}", value, global_step=step)
        self._writer.flush()  # readable live, and nothing lost if the run is interrupted

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
