"""Optuna's storage service on a server with authentication: admins only,
credentials as gRPC metadata (the client of docs/optuna.md)."""

from __future__ import annotations

import base64
import json
import urllib.request

import grpc
import optuna
import pytest
from optuna.storages import GrpcStorageProxy
from optuna.storages._grpc.auto_generated import api_pb2_grpc
from optuna.storages._grpc.client import GrpcClientCache

from conftest import ADMIN_PASSWORD


# The client docs/optuna.md shows, but for the header's value.
class _Auth(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, authorization):
        self.md = [("authorization", authorization)]

    def intercept_unary_unary(self, continuation, details, request):
        details = details._replace(metadata=list(details.metadata or []) + self.md)
        return continuation(details, request)


class LodeStorage(GrpcStorageProxy):
    def __init__(self, *, host, port, authorization):
        self._authorization = authorization
        super().__init__(host=host, port=port)

    def _setup(self):
        super()._setup()
        self._channel = grpc.intercept_channel(self._channel, _Auth(self._authorization))
        self._stub = api_pb2_grpc.StorageServiceStub(self._channel)
        self._cache = GrpcClientCache(self._stub)


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _create_user(server, name, password):
    req = urllib.request.Request(f"{server.url}/api/2.0/mlflow/users/create", method="POST",
                                 data=json.dumps({"username": name, "password": password}).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": _basic("admin", ADMIN_PASSWORD)})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_admins_only(auth_server):
    anonymous = GrpcStorageProxy(host=auth_server.host, port=auth_server.port)
    with pytest.raises(grpc.RpcError) as e:
        optuna.create_study(study_name="secret", storage=anonymous)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    anonymous.close()

    _create_user(auth_server, "alice", "alice's password")
    alice = LodeStorage(host=auth_server.host, port=auth_server.port, authorization=_basic("alice", "alice's password"))
    with pytest.raises(grpc.RpcError) as e:
        optuna.get_all_study_names(storage=alice)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    alice.close()

    wrong = LodeStorage(host=auth_server.host, port=auth_server.port, authorization=_basic("admin", "wrong"))
    with pytest.raises(grpc.RpcError) as e:
        optuna.get_all_study_names(storage=wrong)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    wrong.close()

    admin = LodeStorage(host=auth_server.host, port=auth_server.port, authorization=_basic("admin", ADMIN_PASSWORD))
    study = optuna.create_study(study_name="secret", storage=admin)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)
    assert len(optuna.load_study(study_name="secret", storage=admin).trials) == 3
    admin.close()
