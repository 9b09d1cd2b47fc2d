"""Fake hardware for the energy tests, installed at the seams Zeus reads it through.

GPUs: a fake `pynvml` module replaces the one `zeus.device.gpu.nvidia` uses (and the one its
`nvml_is_available` imports), with Zeus's GPU singleton and NVML-availability cache reset around each test.
RAPL: Zeus's CPU singleton `zeus.device.cpu._cpus` is set to a fake package list.
CUDA sync: there is no real GPU behind the fake, so Zeus's `sync_execution` is replaced by a recorder.
Tests take `no_hardware` (nothing measurable) or `fake_hw` (then `fake_hw.install(gpus=..., rapl=...)`).
The power-limit opt-in (GREENKNOBS_SET_POWER_LIMITS) is removed by `no_hardware`; `install` sets it unless called
with `set_limits=False`, the machine as a user who did not opt in has it.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pynvml as real_pynvml
import pytest
import zeus.device.cpu
import zeus.device.gpu
import zeus.device.gpu.nvidia
from zeus.device.cpu.common import CpuDramMeasurement

_ERROR_TEXT = {
    real_pynvml.NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    real_pynvml.NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    real_pynvml.NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    real_pynvml.NVML_ERROR_UNKNOWN: "Unknown Error",
}


class FakeNVMLError(Exception):
    """Like pynvml.NVMLError: carries the NVML return code in `.value`."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _ERROR_TEXT.get(self.value, f"NVML error {self.value}")


@dataclass
class FakeGPU:
    """One GPU: a total-energy counter in mJ that advances with work, and a power limit in mW."""

    name: str = "NVIDIA H100 80GB HBM3"
    architecture: int = real_pynvml.NVML_DEVICE_ARCH_HOPPER
    energy_mj: int = 1_000_000
    instant_power_mw: int = 300_000
    limit_mw: int = 700_000
    default_limit_mw: int = 700_000
    min_limit_mw: int = 100_000
    max_limit_mw: int = 700_000
    stuck: bool = False  # the counter never moves, as on a broken driver
    ignores_set: bool = False  # accepts a new limit without error but keeps the old one
    set_error: int | None = None  # NVML return code the setter fails with
    set_calls: list[int] = field(default_factory=list)

    def work(self, joules: float) -> None:
        if not self.stuck:
            self.energy_mj += round(joules * 1000)


class FakeNVML(types.ModuleType):
    """The subset of pynvml Zeus's NVIDIAGPU calls, backed by FakeGPU objects."""

    NVMLError = FakeNVMLError

    def __init__(self, gpus: list[FakeGPU], init_error: int | None = None) -> None:
        super().__init__("pynvml")
        for name in dir(real_pynvml):
            if name.startswith(("NVML_ERROR_", "NVML_DEVICE_ARCH_", "NVML_FI_DEV_", "NVML_POWER_SCOPE_")):
                setattr(self, name, getattr(real_pynvml, name))
        self.NVML_SUCCESS = real_pynvml.NVML_SUCCESS
        self.NVML_FEATURE_ENABLED = real_pynvml.NVML_FEATURE_ENABLED
        self.NVML_FEATURE_DISABLED = real_pynvml.NVML_FEATURE_DISABLED
        self.gpus = gpus
        self.init_error = init_error

    # Zeus rejects unofficial pynvml packages by checking for this attribute.
    def _nvmlGetFunctionPointer(self, name: str) -> None:
        return None

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGPU:
        return self.gpus[index]

    def nvmlDeviceGetC2cModeInfoV(self, gpu: FakeGPU) -> None:
        raise FakeNVMLError(real_pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetName(self, gpu: FakeGPU) -> str:
        return gpu.name

    def nvmlDeviceGetArchitecture(self, gpu: FakeGPU) -> int:
        return gpu.architecture

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGPU) -> int:
        return gpu.energy_mj

    def nvmlDeviceGetFieldValues(self, gpu: FakeGPU, fields: list[tuple[int, int]]) -> list[types.SimpleNamespace]:
        return [
            types.SimpleNamespace(
                nvmlReturn=real_pynvml.NVML_SUCCESS, value=types.SimpleNamespace(uiVal=gpu.instant_power_mw)
            )
            for _ in fields
        ]

    def nvmlDeviceGetPowerManagementLimitConstraints(self, gpu: FakeGPU) -> tuple[int, int]:
        return gpu.min_limit_mw, gpu.max_limit_mw

    def nvmlDeviceGetPowerManagementLimit(self, gpu: FakeGPU) -> int:
        return gpu.limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, gpu: FakeGPU) -> int:
        return gpu.default_limit_mw

    def nvmlDeviceSetPowerManagementLimit(self, gpu: FakeGPU, limit_mw: int) -> None:
        gpu.set_calls.append(limit_mw)
        if gpu.set_error is not None:
            raise FakeNVMLError(gpu.set_error)
        if not gpu.min_limit_mw <= limit_mw <= gpu.max_limit_mw:
            raise FakeNVMLError(real_pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if not gpu.ignores_set:
            gpu.limit_mw = limit_mw


@dataclass
class FakeRAPL:
    """Zeus's CPUs interface over RAPL packages whose counters advance by a fixed step on every read."""

    packages: int = 1
    cpu_step_mj: float = 0.0  # 0: present but never advancing, as on this VM
    dram_step_mj: float = 0.0
    _cpu_mj: float = 0.0
    _dram_mj: float = 0.0

    def __len__(self) -> int:
        return self.packages

    def get_total_energy_consumption(self, index: int) -> CpuDramMeasurement:
        self._cpu_mj += self.cpu_step_mj
        self._dram_mj += self.dram_step_mj
        return CpuDramMeasurement(cpu_mj=self._cpu_mj, dram_mj=self._dram_mj)

    def supports_get_dram_energy_consumption(self, index: int) -> bool:
        return True


def _reset_zeus_gpu_state() -> None:
    zeus.device.gpu.nvidia.nvml_is_available.cache_clear()


@pytest.fixture
def no_hardware(monkeypatch):
    """Whatever machine runs the tests: NVML fails to initialise, RAPL is absent."""
    for var in ("CUDA_VISIBLE_DEVICES", "ZEUSD_SOCK_PATH", "ZEUSD_HOST_PORT", "GREENKNOBS_SET_POWER_LIMITS"):
        monkeypatch.delenv(var, raising=False)
    nvml = FakeNVML([], init_error=real_pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    monkeypatch.setattr(zeus.device.gpu.nvidia, "pynvml", nvml)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(zeus.device.gpu, "_gpus", None)
    monkeypatch.setattr(zeus.device.gpu, "amdsmi_is_available", lambda: False)
    monkeypatch.setattr(zeus.device.cpu, "_cpus", None)
    monkeypatch.setattr(zeus.device.cpu, "rapl_is_available", lambda: False)
    _reset_zeus_gpu_state()
    yield
    _reset_zeus_gpu_state()


class FakeHardware:
    """What tests use to install fake GPUs / RAPL; `sync_calls` records Zeus's CUDA syncs."""

    GPU = FakeGPU
    RAPL = FakeRAPL

    def __init__(self, monkeypatch) -> None:
        self._monkeypatch = monkeypatch
        self.sync_calls: list[list[int]] = []
        monkeypatch.setattr(
            "zeus.monitor.energy.sync_execution_fn",
            lambda gpu_indices, sync_with="torch": self.sync_calls.append(list(gpu_indices)),
        )

    def install(self, gpus: list[FakeGPU] | None = None, rapl: FakeRAPL | None = None,
                set_limits: bool = True) -> list[FakeGPU]:
        """Fake NVML with `gpus` (default: one H100) and, if given, RAPL packages; `set_limits`: the user opted in
        to greenknobs setting power limits (GREENKNOBS_SET_POWER_LIMITS=1)."""
        gpus = [FakeGPU()] if gpus is None else gpus
        if set_limits:
            self._monkeypatch.setenv("GREENKNOBS_SET_POWER_LIMITS", "1")
        nvml = FakeNVML(gpus)
        self._monkeypatch.setattr(zeus.device.gpu.nvidia, "pynvml", nvml)
        self._monkeypatch.setitem(sys.modules, "pynvml", nvml)
        self._monkeypatch.setattr(zeus.device.gpu, "_gpus", None)
        _reset_zeus_gpu_state()
        if rapl is not None:
            self._monkeypatch.setattr(zeus.device.cpu, "_cpus", rapl)
        return gpus


@pytest.fixture
def fake_hw(monkeypatch, no_hardware) -> FakeHardware:
    """Starts from no hardware at all; call `.install(...)` to add fake GPUs and RAPL."""
    return FakeHardware(monkeypatch)


@pytest.fixture
def detect_hw():
    """spaces' detect() as it reads the fake NVML in place (its cache cleared on both sides)."""
    from greenknobs.spaces import detect_hardware

    def detect():
        detect_hardware.cache_clear()
        try:
            return detect_hardware()
        finally:
            detect_hardware.cache_clear()

    return detect
