"""Export a run's detector (normalisation, model, score, threshold) as one TorchScript file.

Why TorchScript and not ONNX: it needs nothing beyond PyTorch (ONNX export needs the `onnx`
package and running it `onnxruntime`, neither a dependency here), the file loads with
`torch.jit.load` in Python without this package, or in C++ through libtorch, and it runs the
very same operators as the detector, so its scores match to float32 rounding. The module is
traced (`torch.jit.trace`) on a batch of the run's image shape: the batch size stays free, the
image size is fixed.

The file takes uint8 images (B, H, W, C), returns (class int64, score float32, is_anomaly
bool), and carries `detector.json` as an extra file:

    m = torch.jit.load("model.pt", _extra_files={"detector.json": ""})
    label, score, is_anomaly = m(torch.from_numpy(images))
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch

from ..errors import UserInputError
from ..training import runs
from .detector import load_detector


def export_detector(run_dir: str | Path, out: str | Path) -> Path:
    """Trace RUN's detector (after `oe detector RUN`) to the TorchScript file `out`."""
    out = Path(out)
    if out.exists():
        raise UserInputError(f"{out} already exists; remove it or choose another --out")
    if not out.parent.is_dir():
        raise UserInputError(f"the folder of --out {out} does not exist")
    detector = load_detector(run_dir, device="cpu")
    for param in detector.module.parameters():  # an inference file: outputs need no grad
        param.requires_grad_(False)
    h, w, c = detector.image_shape
    example = torch.randint(0, 256, (2, h, w, c), dtype=torch.uint8,
                            generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        # The models' input-size checks become constants of the trace: expected, and harmless
        # because the image size of the trace is the only one the file accepts.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # PyTorch 2.x marks torch.jit as deprecated in favour of torch.export; TorchScript still
        # loads everywhere (libtorch included), which is why it is used here.
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(detector.module.eval(), example, check_trace=False)
    info = dict(detector.info, exported_from=str(run_dir))
    buffer = io.BytesIO()  # saved in memory, then written atomically (training/runs.py)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation, as above
        torch.jit.save(traced, buffer, _extra_files={"detector.json": json.dumps(info, indent=2)})
    runs.write_bytes(out, buffer.getvalue())
    return out
