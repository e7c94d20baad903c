"""Artifacts through the proxied artifact service (brief item 6).

The client talks to /api/2.0/mlflow-artifacts/artifacts/... because run
artifact URIs are mlflow-artifacts:/ URIs.
"""

import filecmp
import os
from pathlib import Path

import mlflow
import pytest

from conftest import unique


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def sample_dir(tmp_path):
    rng = os.urandom
    root = tmp_path / "src"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty-dir-sibling").mkdir()
    (root / "hello.txt").write_text("hello, world\n")
    (root / "data.bin").write_bytes(rng(256 * 1024))  # binary, random
    (root / "zero.bin").write_bytes(b"")  # empty file
    (root / "sub" / "a.json").write_text('{"a": 1}')
    (root / "sub" / "b.bin").write_bytes(rng(1000) + b"\x00\xff\x00" + rng(1000))
    (root / "sub" / "deeper" / "c.csv").write_text("x,y\n1,2\n")
    (root / "sub" / "deeper" / "big.bin").write_bytes(rng(3 * 1024 * 1024 + 7))
    (root / "empty-dir-sibling" / "only.txt").write_text("only")
    return root


def test_artifact_uri_is_proxied(client, experiment_id):
    run = client.create_run(experiment_id)
    uri = run.info.artifact_uri
    assert uri.startswith("mlflow-artifacts:/")
    assert uri == f"mlflow-artifacts:/{experiment_id}/{run.info.run_id}/artifacts"
    assert client.list_artifacts(run.info.run_id) == []


def test_log_artifact_single_file(client, experiment_id, tmp_path):
    run_id = client.create_run(experiment_id).info.run_id
    f = tmp_path / "model.txt"
    f.write_bytes(b"line1\nline2\n" + os.urandom(100))
    client.log_artifact(run_id, str(f))
    client.log_artifact(run_id, str(f), artifact_path="nested/dir")

    root = client.list_artifacts(run_id)
    assert [(a.path, a.is_dir) for a in root] == [("model.txt", False), ("nested", True)]
    assert root[0].file_size == f.stat().st_size
    assert root[1].file_size is None

    nested = client.list_artifacts(run_id, "nested")
    assert [(a.path, a.is_dir, a.file_size) for a in nested] == [("nested/dir", True, None)]
    leaf = client.list_artifacts(run_id, "nested/dir")
    assert [(a.path, a.is_dir, a.file_size) for a in leaf] == [
        ("nested/dir/model.txt", False, f.stat().st_size)
    ]

    out = tmp_path / "out1"
    out.mkdir()
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model.txt", dst_path=str(out))
    assert Path(local).read_bytes() == f.read_bytes()
    local = client.download_artifacts(run_id, "nested/dir/model.txt", str(out))
    assert Path(local).read_bytes() == f.read_bytes()


def test_log_artifacts_tree_list_and_download(client, experiment_id, sample_dir, tmp_path):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_artifacts(run_id, str(sample_dir))  # at the root
    client.log_artifacts(run_id, str(sample_dir), artifact_path="copy")

    root = client.list_artifacts(run_id)
    # sorted by path; directories have no size
    assert [(a.path, a.is_dir) for a in root] == [
        ("copy", True),
        ("data.bin", False),
        ("empty-dir-sibling", True),
        ("hello.txt", False),
        ("sub", True),
        ("zero.bin", False),
    ]
    sizes = {a.path: a.file_size for a in root}
    assert sizes["data.bin"] == 256 * 1024
    assert sizes["hello.txt"] == len("hello, world\n")
    # proto3 JSON drops zero values: an empty file is listed without
    # file_size, which the client reads as None (like a directory)
    assert sizes["zero.bin"] is None
    assert sizes["sub"] is None

    sub = client.list_artifacts(run_id, "sub")
    assert [(a.path, a.is_dir) for a in sub] == [
        ("sub/a.json", False),
        ("sub/b.bin", False),
        ("sub/deeper", True),
    ]
    deeper = client.list_artifacts(run_id, "copy/sub/deeper")
    assert [(a.path, a.is_dir, a.file_size) for a in deeper] == [
        ("copy/sub/deeper/big.bin", False, 3 * 1024 * 1024 + 7),
        ("copy/sub/deeper/c.csv", False, len("x,y\n1,2\n")),
    ]
    # listing a path that does not exist is empty, not an error
    assert client.list_artifacts(run_id, "no/such/dir") == []

    # download a single binary file
    out = tmp_path / "dl-file"
    out.mkdir()
    p = client.download_artifacts(run_id, "sub/deeper/big.bin", str(out))
    assert Path(p).read_bytes() == (sample_dir / "sub" / "deeper" / "big.bin").read_bytes()

    # download a directory
    out = tmp_path / "dl-dir"
    out.mkdir()
    p = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="copy", dst_path=str(out))
    assert _tree(Path(p)) == _tree(sample_dir)

    # download everything
    out = tmp_path / "dl-all"
    out.mkdir()
    p = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(out))
    got = _tree(Path(p))
    src = _tree(sample_dir)
    assert {k: v for k, v in got.items() if not k.startswith("copy/")} == src
    assert {k[len("copy/"):]: v for k, v in got.items() if k.startswith("copy/")} == src


def test_fluent_artifact_helpers(client, experiment_id, tmp_path):
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_text("some text\n", "notes/readme.txt")
        mlflow.log_dict({"k": [1, 2, 3]}, "conf/params.json")
        f = tmp_path / "weird name with spaces.txt"
        f.write_text("spaces")
        mlflow.log_artifact(str(f))
    run_id = run.info.run_id
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "some text\n"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/conf/params.json") == {"k": [1, 2, 3]}
    names = [a.path for a in client.list_artifacts(run_id)]
    assert names == ["conf", "notes", "weird name with spaces.txt"]
    out = tmp_path / "o"
    out.mkdir()
    p = client.download_artifacts(run_id, "weird name with spaces.txt", str(out))
    assert Path(p).read_text() == "spaces"


def test_overwrite_artifact(client, experiment_id, tmp_path):
    run_id = client.create_run(experiment_id).info.run_id
    f = tmp_path / "same.txt"
    f.write_text("first")
    client.log_artifact(run_id, str(f))
    f.write_text("second, longer")
    client.log_artifact(run_id, str(f))
    out = tmp_path / "o"
    out.mkdir()
    assert Path(client.download_artifacts(run_id, "same.txt", str(out))).read_text() == "second, longer"
    (a,) = client.list_artifacts(run_id)
    assert a.file_size == len("second, longer")


def test_artifacts_are_isolated_per_run(client, experiment_id, tmp_path):
    r1 = client.create_run(experiment_id).info.run_id
    r2 = client.create_run(experiment_id).info.run_id
    f = tmp_path / "x.txt"
    f.write_text("x")
    client.log_artifact(r1, str(f))
    assert [a.path for a in client.list_artifacts(r1)] == ["x.txt"]
    assert client.list_artifacts(r2) == []
