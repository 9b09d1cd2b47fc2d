"""The line under every benchmark figure names the machine and energy source its runs recorded, not a fixed text."""

from __future__ import annotations

from benchmarks.searchbench import summary

H200 = {"cpu": "AMD EPYC 9654", "cpu_cores": 16, "gpu": "NVIDIA H200", "gpu_count": 1, "meter": "zeus"}


def test_provenance_names_the_recorded_machine_and_meter(monkeypatch):
    monkeypatch.setattr(summary, "machine_of", lambda task: H200 if task == "gpu-task" else None)
    line = summary.provenance("python -m benchmarks.bench sim gpu-task", ["gpu-task", "unmeasured"])
    assert line.startswith("python -m benchmarks.bench sim gpu-task  ·  AMD EPYC 9654, 16 cores, 1× NVIDIA H200  ·  "
                           "energy: zeus  ·  ")
    assert "no GPU" not in line and "estimated" not in line
    assert "machine not recorded" in summary.provenance("cmd", ["unmeasured"])


def test_the_default_tasks_machine_is_read_from_its_published_runs():
    hardware = summary.machine_of("default")  # benchmarks/results/measure-default.jsonl on a fresh checkout
    assert hardware["meter"] == "estimated" and hardware["gpu"] == "none" and hardware["cpu_cores"] == 2
