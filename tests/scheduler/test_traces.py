"""Trace readers: small CSVs written here, and the real openb trace when it is present."""

from __future__ import annotations

from pathlib import Path

import pytest

from blacksoil.scheduler.errors import SchedulerError, TraceError
from blacksoil.scheduler.traces import load_nodes, load_pods
from blacksoil.scheduler.types import NodeSpec, Task

OPENB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "traces" / "openb-v2023"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_nodes(tmp_path: Path) -> None:
    path = write(
        tmp_path, "nodes.csv", "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,P100\nn1,96000,786432,0,\n"
    )
    assert load_nodes(path) == [NodeSpec("n0", 64000, 262144, 2, "P100"), NodeSpec("n1", 96000, 786432, 0, "")]


def test_load_nodes_without_model_column(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes.csv", "sn,cpu_milli,memory_mib,gpu\nn0,1000,2048,8\n")
    assert load_nodes(path) == [NodeSpec("n0", 1000, 2048, 8, "")]


def test_load_pods(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pods.csv",
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\n"
        "p0,12000,16384,1,460,,LS\n"
        "p1,6000,12288,2,1000,V100M16|V100M32,BE\n"
        "p2,4000,8192,0,0,,LS\n"
        "p3,4000,8192,0,500,,LS\n"
        "p4,1000,1024,1,250,T4,LS\n",
    )
    pods = load_pods(path)
    assert pods == [
        Task(12000, 16384, 1, 460, frozenset(), "p0"),
        Task(6000, 12288, 2, 1000, frozenset({"V100M16", "V100M32"}), "p1"),
        Task(4000, 8192, 0, 0, frozenset(), "p2"),
        Task(4000, 8192, 0, 0, frozenset(), "p3"),  # no GPU: its gpu_milli is dropped
        Task(1000, 1024, 1, 250, frozenset({"T4"}), "p4"),
    ]
    assert pods[0].shares_a_gpu and not pods[1].shares_a_gpu
    assert pods[1].gpu_total_milli == 2000 and pods[3].gpu_total_milli == 0


def test_load_pods_without_gpu_spec_column_accepts_any_model(tmp_path: Path) -> None:
    path = write(tmp_path, "pods.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1,2,1,500\n")
    assert load_pods(path) == [Task(1, 2, 1, 500, frozenset(), "p0")]


def test_multi_gpu_pod_with_a_share_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "pods.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\nok,1,1,1,500\nbad,1,1,2,500\n")
    with pytest.raises(TraceError) as err:
        load_pods(path)
    assert str(path) in str(err.value) and "bad" in str(err.value)
    assert isinstance(err.value, SchedulerError)


@pytest.mark.parametrize(
    ("loader", "text", "missing"),
    [
        (load_nodes, "sn,cpu_milli,memory_mib,model\nn0,1,1,T4\n", "gpu"),
        (load_pods, "name,cpu_milli,memory_mib,num_gpu\np0,1,1,1\n", "gpu_milli"),
    ],
)
def test_missing_column_is_a_trace_error_naming_the_path(tmp_path: Path, loader, text: str, missing: str) -> None:
    path = write(tmp_path, "t.csv", text)
    with pytest.raises(TraceError) as err:
        loader(path)
    assert str(path) in str(err.value) and missing in str(err.value)


@pytest.mark.parametrize("loader", [load_nodes, load_pods])
def test_missing_or_empty_file_is_a_trace_error_naming_the_path(tmp_path: Path, loader) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(TraceError, match=r"nope\.csv"):
        loader(missing)
    empty = write(tmp_path, "empty.csv", "")
    with pytest.raises(TraceError) as err:
        loader(empty)
    assert str(empty) in str(err.value)


@pytest.mark.skipif(not (OPENB / "openb_pod_list_default.csv").is_file(), reason=f"openb trace not present at {OPENB}")
def test_real_openb_trace() -> None:
    nodes = load_nodes(OPENB / "openb_node_list_gpu_node.csv")
    pods = load_pods(OPENB / "openb_pod_list_default.csv")
    assert len(nodes) == 1213
    assert sum(n.gpus for n in nodes) == 6212
    assert len(pods) == 8152
    assert all(p.gpu_milli == 1000 for p in pods if p.num_gpu > 1)
    assert len({p.name for p in pods}) == len(pods)


def test_a_value_that_is_not_a_number_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pods.csv"
    path.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,512,1,500\np1,lots,512,1,500\n")
    with pytest.raises(TraceError, match=r"pods\.csv:3"):
        load_pods(path)
