"""`run --workers N` gives each worker cores of its own: the estimate meter charges idle power for those cores only
(not every core of the host in every worker), a knob the share makes a no-op is not offered, and the study the
coordinator creates has the space its workers see."""

from __future__ import annotations

import json
import os
import sys

import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.search.study import _workers
from greenknobs.spaces import Space, TaskInfo, detect_hardware

CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
pytestmark = pytest.mark.skipif(len(CORES) < 2, reason="needs CPU affinity and two cores to split")
TASK = TaskInfo(models=("tiny-bert",), min_layers=4, max_positions=512, layers={"tiny-bert": 4})


@pytest.fixture
def no_gpu_here(monkeypatch):
    monkeypatch.setattr(_workers, "visible_gpus", lambda: [])


@pytest.fixture
def restore_affinity():
    """`plan` pins this process (the coordinator) to the first worker's share; the test process gets its cores back."""
    yield
    os.sched_setaffinity(0, CORES)
    detect_hardware.cache_clear()


def test_each_worker_gets_cores_of_its_own(no_gpu_here, restore_affinity):
    envs, threads, how = _workers.plan(2, "estimated")
    shares = [[int(c) for c in env[_workers.CPUS_ENV].split(",")] for env in envs]
    size = len(CORES) // 2
    assert shares == [CORES[:size], CORES[size:2 * size]] and threads == size
    assert not set(shares[0]) & set(shares[1])
    assert how.startswith(f"2 workers on {len(CORES)} CPU core(s), no GPU: {size} torch thread(s) per worker")
    assert how.endswith("; cores " + " | ".join(",".join(map(str, s)) for s in shares))
    assert sorted(os.sched_getaffinity(0)) == shares[0]  # the coordinator sees what its workers will see


def test_the_workers_are_pinned_and_charge_idle_power_for_their_own_cores(no_gpu_here, restore_affinity, tmp_path):
    from greenknobs.objectives.energy import make_meter

    envs, _, _ = _workers.plan(2, "estimated")
    probe = "import json, os, sys; json.dump(sorted(os.sched_getaffinity(0)), open(sys.argv[1], 'w'))"
    outs = [tmp_path / f"w{i}.json" for i in range(2)]
    codes, interrupted = _workers.run_workers([[sys.executable, "-c", probe, str(out)] for out in outs], envs)
    assert codes == [0, 0] and not interrupted
    shares = [[int(c) for c in env[_workers.CPUS_ENV].split(",")] for env in envs]
    assert [json.loads(out.read_text()) for out in outs] == shares  # pinned from their first instruction on
    # A process on one share (this one is, as the coordinator) charges idle power for that share's cores only,
    # 3 W each by default, not for every core of the host.
    meter = make_meter("estimate", watts_per_core=10.0)
    assert meter.cores == len(shares[0]) < len(CORES)
    with meter.window("idle") as got:
        os.sched_yield()
    assert got[0].energy_j <= got[0].time_s * len(shares[0]) * 3.0 + got[0].time_s * 7.0 * len(shares[0]) + 1e-9


def test_more_workers_than_cores_is_refused(no_gpu_here):
    with pytest.raises(GreenknobsError) as err:
        _workers.plan(len(CORES) + 1, "estimated")
    assert str(err.value) == (
        f"--workers {len(CORES) + 1} on {len(CORES)} CPU core(s): each worker needs a core of its own (a shared core's "
        "idle power would be charged to every worker on it, and their trials would slow each other): "
        f"use --workers {len(CORES)} at most")
    assert sorted(os.sched_getaffinity(0)) == CORES  # refused before anything was pinned


def test_fewer_threads_is_not_offered_on_a_one_core_share(restore_affinity):
    os.sched_setaffinity(0, CORES[:1])
    detect_hardware.cache_clear()
    hw = detect_hardware()
    assert hw.cpu_cores == 1 and not hw.has("several-cores")
    space = Space(hw, TASK)
    why = "this process may use 1 CPU core (its share of the host): fewer threads than that is no change"
    assert space.status["cpu_threads"].reason == why and "cpu_threads" not in space.searched
    with pytest.raises(GreenknobsError) as err:
        Space(hw, TASK, search=["cpu_threads"])
    assert str(err.value) == f"knob 'cpu_threads' cannot be searched on this machine ({why}): remove it from search"
    with pytest.raises(GreenknobsError, match="cpu_threads = 1 cannot run on this machine"):
        space.complete({"cpu_threads": 1})
    os.sched_setaffinity(0, CORES[:2])
    detect_hardware.cache_clear()
    assert Space(detect_hardware(), TASK).searched["cpu_threads"].choices == (0, 1)
