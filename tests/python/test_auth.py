"""Authentication and permissions, driven by the real mlflow clients.

This module starts its own server with authentication on (the session
``server`` of conftest.py runs without it), once per module, in a fresh
temporary directory on a free port:

* Lode: ``$LODE_BIN server --admin-user admin --auth-default-permission READ``
  with the admin's password in ``LODE_ADMIN_PASSWORD``;
* the reference (``LODE_TEST_SERVER=mlflow``): ``python -m mlflow server
  --app-name basic-auth`` with an auth config file (``MLFLOW_AUTH_CONFIG_PATH``:
  admin, ``default_permission = READ``, its own user database).

Tracking calls go through ``mlflow.MlflowClient`` and the fluent API; users,
permissions and roles through the basic-auth app's ``AuthServiceClient``
(``mlflow.server.get_app_client("basic-auth", ...)``): 3.x grants per user
and manages roles, 2.x manages per-experiment and per-model permissions.
Who calls is chosen as the client chooses it, from
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or
``MLFLOW_TRACKING_TOKEN`` read at each request (``identity()``). Every test
makes its own users, so tests do not see each other's grants.

What MLflow has no client call for (``users/current``, the permission
listings, Lode's tokens and jobs) is called with ``requests``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import mlflow
import mlflow.server
import pytest
import requests
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from conftest import (
    IS_MLFLOW3,
    REPO_ROOT,
    Server,
    _free_port,
    _server_command,
    _stop,
    unique,
    wait_healthy,
)

KIND = os.environ.get("LODE_TEST_SERVER", "lode").strip().lower()
REFERENCE = KIND == "mlflow"
ADMIN = "admin"
ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex
CRED_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
TIMEOUT = 60

lode_only = pytest.mark.skipif(REFERENCE, reason="Lode-only behaviour (not in MLflow)")
requires_mlflow3 = pytest.mark.skipif(
    not IS_MLFLOW3, reason=f"the 3.x AuthServiceClient's API; client is {mlflow.__version__}")
requires_mlflow2 = pytest.mark.skipif(
    IS_MLFLOW3, reason=f"the 2.x AuthServiceClient's API; client is {mlflow.__version__}")


def _auth_command(port: int, workdir: Path) -> tuple[list[str], dict[str, str]]:
    cmd = _server_command(KIND, port, workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    if KIND == "lode":
        # --allow-user-code: test_job_runs_as_its_submitter submits a job as a user.
        cmd += ["--admin-user", ADMIN, "--auth-default-permission", "READ", "--allow-user-code"]
        env["LODE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        return cmd, env
    config = workdir / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{workdir / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN}\n"
        f"admin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    cmd += ["--app-name", "basic-auth"]
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
    # 3.x takes the admin's password from here before the file, signs its
    # CSRF tokens with the key, and refuses to start without either.
    env["MLFLOW_AUTH_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = uuid.uuid4().hex
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return cmd, env


@pytest.fixture(scope="module")
def auth_server():
    """A server with authentication on, for this module only."""
    if os.environ.get("LODE_TEST_URL"):
        # The suite runs against a server started elsewhere (without
        # authentication); this module needs one of its own, with it.
        pytest.skip("LODE_TEST_URL names a running server; the auth tests start their own")
    workdir = Path(tempfile.mkdtemp(prefix=f"lode-pytest-auth-{KIND}-",
                                    dir=os.environ.get("LODE_TEST_TMPDIR")))
    port = _free_port()
    log_path = workdir / "server.log"
    cmd, env = _auth_command(port, workdir)
    logf = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    srv = Server(kind=KIND, url=f"http://127.0.0.1:{port}", workdir=workdir,
                 log_path=log_path, proc=proc)
    try:
        wait_healthy(srv)
    except Exception as e:
        _stop(proc)
        logf.close()
        pytest.fail(f"{e}\ncommand: {' '.join(cmd)}\n--- server log ---\n{srv.log_text()}")
    try:
        yield srv
    finally:
        _stop(proc)
        logf.close()
        if os.environ.get("LODE_TEST_KEEP_TMP"):
            print(f"\nauth server work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def server(auth_server):
    """This module's tests talk to the auth server: conftest's per-test
    fixture points the tracking URI at it and attaches its log to failures."""
    return auth_server


@pytest.fixture(autouse=True)
def _anonymous():
    """Each test starts with no credentials in the environment."""
    saved = {k: os.environ.pop(k, None) for k in CRED_VARS}
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextlib.contextmanager
def identity(username: str | None = None, password: str | None = None, token: str | None = None):
    """Calls inside are made as this user (or token, or nobody): the client
    reads the variables at each request."""
    saved = {k: os.environ.pop(k, None) for k in CRED_VARS}
    if username is not None:
        os.environ["MLFLOW_TRACKING_USERNAME"] = username
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password or ""
    if token is not None:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    try:
        yield
    finally:
        for k in CRED_VARS:
            os.environ.pop(k, None)
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v


class Env:
    """The auth server and the users made on it."""

    def __init__(self, srv: Server):
        self.srv = srv
        self.url = srv.url
        self.passwords = {ADMIN: ADMIN_PASSWORD}
        self.ids: dict[str, int] = {}

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.url)

    def auth(self):
        return mlflow.server.get_app_client("basic-auth", tracking_uri=self.url)

    def as_(self, name: str):
        return identity(name, self.passwords[name])

    def admin(self):
        return self.as_(ADMIN)

    def new_user(self, prefix: str = "user") -> str:
        name = unique(prefix)
        password = "pw-" + uuid.uuid4().hex
        with self.admin():
            user = self.auth().create_user(name, password)
        self.passwords[name] = password
        self.ids[name] = user.id
        return name

    def http(self, method: str, path: str, who: str | None = None, **kw) -> requests.Response:
        auth = (who, self.passwords[who]) if who else None
        return requests.request(method, self.url + path, auth=auth, timeout=TIMEOUT, **kw)

    def owned(self, owner: str) -> tuple[str, str, str]:
        """An experiment (with a run) and a registered model owner made."""
        with self.as_(owner):
            c = self.client()
            exp = c.create_experiment(unique("auth-exp"))
            run = c.create_run(exp).info.run_id
            model = unique("auth-model")
            c.create_registered_model(model)
        return exp, run, model


@pytest.fixture(scope="module")
def env(auth_server) -> Env:
    return Env(auth_server)


@contextlib.contextmanager
def raises(code: str, status: int | None = None, match: str | None = None):
    """pytest.raises for an MlflowException with this error code (and
    status, and text in its message). MLflow's auth app answers 401 and 403
    in plain text (the client raises MlflowException), Lode in MLflow's JSON
    (RestException); both carry the code."""
    with pytest.raises(MlflowException) as ei:
        yield ei
    e = ei.value
    assert e.error_code == code, f"expected {code}, got {e.error_code}: {e}"
    if status is not None:
        assert e.get_http_status_code() == status, str(e)
    if match is not None:
        assert match in e.message, e.message


# ---------------------------------------------------------------------------
# signing in


def test_anonymous_and_bad_credentials_are_refused(env):
    with raises("UNAUTHENTICATED", 401) as ei:
        env.client().search_experiments()
    if not REFERENCE:
        assert isinstance(ei.value, RestException)
    with raises("UNAUTHENTICATED", 401):
        env.auth().get_user(ADMIN)
    with identity(ADMIN, "not-the-password"), raises("UNAUTHENTICATED", 401):
        env.client().search_experiments()
    with identity("nobody-" + uuid.uuid4().hex[:8], "whatever-password"), raises("UNAUTHENTICATED", 401):
        env.client().get_experiment("0")
    r = requests.get(env.url + "/api/2.0/mlflow/experiments/search", timeout=TIMEOUT)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].lower().startswith("basic")
    # /health stays open (the fixture waited on it).
    assert requests.get(env.url + "/health", timeout=TIMEOUT).status_code == 200


def test_admin_creates_users(env):
    name = unique("alice")
    password = "pw-" + uuid.uuid4().hex
    with env.admin():
        ac = env.auth()
        user = ac.create_user(name, password)
        assert user.username == name and user.is_admin is False and isinstance(user.id, int)
        got = ac.get_user(name)
        assert (got.id, got.username, got.is_admin) == (user.id, name, False)
        if not IS_MLFLOW3:
            assert got.experiment_permissions == [] and got.registered_model_permissions == []
        with raises("RESOURCE_ALREADY_EXISTS", 400, f"User (username={name}) already exists"):
            ac.create_user(name, password)
        with raises("INVALID_PARAMETER_VALUE", 400, "Password must be"):
            ac.create_user(unique("short"), "short")
        with raises("RESOURCE_DOES_NOT_EXIST", 404, "User with username=nobody-x not found"):
            ac.get_user("nobody-x")
        admin = ac.get_user(ADMIN)
        assert admin.is_admin is True
    env.passwords[name] = password
    with env.as_(name):
        assert env.auth().get_user(name).id == user.id
        env.client().search_experiments()
        with raises("PERMISSION_DENIED", 403):
            env.auth().get_user(ADMIN)
        with raises("PERMISSION_DENIED", 403):
            env.auth().create_user(unique("eve"), "pw-" + uuid.uuid4().hex)


# ---------------------------------------------------------------------------
# ownership and the default permission


def test_creator_gets_manage(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, run, model = env.owned(alice)
    with env.admin():
        ac = env.auth()
        if IS_MLFLOW3:
            p = ac.get_user_permission(alice, "experiment", exp)
            assert (p.permission, p.allowed) == ("MANAGE", True)
            p = ac.get_user_permission(alice, "registered_model", model)
            assert (p.permission, p.allowed) == ("MANAGE", True)
            # bob has no grant: the default, READ, which is not "use".
            p = ac.get_user_permission(bob, "experiment", exp)
            assert (p.permission, p.allowed) == ("READ", False)
        else:
            ep = ac.get_experiment_permission(exp, alice)
            assert (ep.experiment_id, ep.user_id, ep.permission) == (exp, env.ids[alice], "MANAGE")
            mp = ac.get_registered_model_permission(model, alice)
            assert (mp.name, mp.user_id, mp.permission) == (model, env.ids[alice], "MANAGE")
            u = ac.get_user(alice)
            assert [(p.experiment_id, p.permission) for p in u.experiment_permissions] == [(exp, "MANAGE")]
            assert [(p.name, p.permission) for p in u.registered_model_permissions] == [(model, "MANAGE")]
            # get returns stored rows only, never the default
            with raises("RESOURCE_DOES_NOT_EXIST"):
                ac.get_experiment_permission(exp, bob)
    if IS_MLFLOW3:
        with env.as_(alice):
            assert env.auth().get_user_permission(alice, "experiment", exp).permission == "MANAGE"
        with env.as_(bob), raises("PERMISSION_DENIED", 403):
            env.auth().get_user_permission(alice, "experiment", exp)
    # the owner may do everything to what they made
    with env.as_(alice):
        c = env.client()
        c.log_metric(run, "m", 1.0)
        c.set_experiment_tag(exp, "k", "v")
        c.update_registered_model(model, description="mine")
        c.set_terminated(run)


def test_others_read_but_do_not_write(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, run, model = env.owned(alice)
    with env.as_(bob):
        c = env.client()
        assert c.get_experiment(exp).experiment_id == exp
        assert c.get_run(run).info.experiment_id == exp
        assert c.get_registered_model(model).name == model
        assert exp in [e.experiment_id for e in c.search_experiments(filter_string=f"name = '{c.get_experiment(exp).name}'")]
        assert [m.name for m in c.search_registered_models(filter_string=f"name = '{model}'")] == [model]
        for call in (
            lambda: c.log_metric(run, "m", 1.0),
            lambda: c.log_param(run, "p", "v"),
            lambda: c.set_tag(run, "k", "v"),
            lambda: c.set_experiment_tag(exp, "k", "v"),
            lambda: c.rename_experiment(exp, unique("stolen")),
            lambda: c.delete_experiment(exp),
            lambda: c.delete_run(run),
            lambda: c.create_run(exp),
            lambda: c.update_registered_model(model, description="not mine"),
            lambda: c.set_registered_model_tag(model, "k", "v"),
            lambda: c.delete_registered_model(model),
        ):
            with raises("PERMISSION_DENIED", 403):
                call()
        with raises("PERMISSION_DENIED", 403):
            mlflow.start_run(experiment_id=exp)
        # their own things are theirs
        own = c.create_experiment(unique("bob-exp"))
        with mlflow.start_run(experiment_id=own) as r:
            mlflow.log_metric("m", 2.0)
        assert c.get_run(r.info.run_id).data.metrics == {"m": 2.0}
    with env.as_(alice):
        # nothing of bob's attempts landed
        assert env.client().get_run(run).data.metrics == {}


# ---------------------------------------------------------------------------
# per-user grants (3.x client: users/permissions/*; 2.x client: the
# per-experiment and per-model permission APIs)


@requires_mlflow3
def test_grant_revoke_get_user_permission(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, run, model = env.owned(alice)
    with env.as_(alice):
        ac = env.auth()
        # the owner (MANAGE) grants, not only admins
        ac.grant_user_permission(bob, "experiment", exp, "EDIT")
        ac.grant_user_permission(bob, "registered_model", model, "EDIT")
        with raises("RESOURCE_ALREADY_EXISTS", 400,
                    f"Permission for user={bob} on resource_type=experiment, resource_id={exp} already exists."):
            ac.grant_user_permission(bob, "experiment", exp, "READ")
    with env.as_(bob):
        c = env.client()
        c.log_metric(run, "m", 3.0)
        c.update_registered_model(model, description="edited by bob")
        p = env.auth().get_user_permission(bob, "experiment", exp)
        assert (p.permission, p.allowed) == ("EDIT", True)
        # EDIT is not MANAGE: bob may not grant, nor delete
        with raises("PERMISSION_DENIED", 403):
            env.auth().grant_user_permission(bob, "experiment", exp, "MANAGE")
        with raises("PERMISSION_DENIED", 403):
            c.delete_experiment(exp)
    with env.as_(alice):
        ac = env.auth()
        ac.revoke_user_permission(bob, "experiment", exp)
        ac.revoke_user_permission(bob, "registered_model", model)
        with raises("RESOURCE_DOES_NOT_EXIST", 404,
                    f"Permission for user={bob} on resource_type=experiment, resource_id={exp} not found."):
            ac.revoke_user_permission(bob, "experiment", exp)
        # another user's permission is theirs and the admins' to read,
        # even for the resource's manager
        with raises("PERMISSION_DENIED", 403):
            ac.get_user_permission(bob, "experiment", exp)
    with env.as_(bob):
        p = env.auth().get_user_permission(bob, "experiment", exp)
        assert (p.permission, p.allowed) == ("READ", False)
    with env.as_(bob):
        with raises("PERMISSION_DENIED", 403):
            env.client().log_metric(run, "m", 4.0)
        with raises("PERMISSION_DENIED", 403):
            env.client().update_registered_model(model, description="again")
    with env.admin():
        ac = env.auth()
        ac.grant_user_permission(bob, "experiment", exp, "MANAGE")
        assert ac.get_user_permission(bob, "experiment", exp).permission == "MANAGE"
        with raises("INVALID_PARAMETER_VALUE", 400, "Invalid permission 'BOGUS'."):
            ac.grant_user_permission(bob, "experiment", exp, "BOGUS")
        with raises("INVALID_PARAMETER_VALUE", 400, "Invalid permission 'NO_PERMISSIONS' for resource_type='experiment'"):
            ac.grant_user_permission(bob, "experiment", exp, "NO_PERMISSIONS")
        with raises("INVALID_PARAMETER_VALUE", 400, "Invalid resource type 'bogus'."):
            ac.grant_user_permission(bob, "bogus", exp, "READ")
        with raises("INVALID_PARAMETER_VALUE", 400, "resource_type 'workspace' is not supported"):
            ac.grant_user_permission(bob, "workspace", "*", "MANAGE")
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            ac.grant_user_permission("nobody-" + uuid.uuid4().hex[:8], "experiment", exp, "READ")
        # the resource need not exist
        ac.grant_user_permission(bob, "experiment", "424242", "READ")
    with env.as_(bob):
        env.client().set_experiment_tag(exp, "by", "bob")


@pytest.mark.skipif(REFERENCE and not IS_MLFLOW3, reason="MLflow 2.x has no users/current nor permission listings")
def test_current_user_and_permission_listings(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, _, model = env.owned(alice)
    r = env.http("GET", "/api/2.0/mlflow/users/current", alice)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_basic_auth"] is True
    assert {k: body["user"][k] for k in ("id", "username", "is_admin")} == \
        {"id": env.ids[alice], "username": alice, "is_admin": False}

    def rows(resp):
        assert resp.status_code == 200, resp.text
        out = resp.json()
        assert out["is_admin"] is False
        return {(p["resource_type"], p["resource_pattern"], p["permission"], p["role_name"], p["workspace"])
                for p in out["permissions"]}

    own_role = f"__user_{env.ids[alice]}__"
    want = {("experiment", exp, "MANAGE", own_role, "default"),
            ("registered_model", model, "MANAGE", own_role, "default")}
    assert rows(env.http("GET", "/api/3.0/mlflow/users/current/permissions", alice)) == want
    assert rows(env.http("GET", "/api/3.0/mlflow/users/permissions/list", ADMIN,
                         params={"username": alice})) == want
    assert rows(env.http("GET", "/api/3.0/mlflow/users/permissions/list", alice,
                         params={"username": alice})) == want
    assert env.http("GET", "/api/3.0/mlflow/users/permissions/list", bob,
                    params={"username": alice}).status_code == 403
    assert env.http("GET", "/api/3.0/mlflow/users/permissions/list", ADMIN,
                    params={"username": "nobody-x"}).status_code == 404
    r = env.http("GET", "/api/2.0/mlflow/users/list", bob)
    assert r.status_code == 200, r.text
    names = {u["username"]: u for u in r.json()["users"]}
    assert {ADMIN, alice, bob} <= names.keys()
    assert names[ADMIN]["is_admin"] is True and names[alice]["is_admin"] is False


@requires_mlflow2
def test_experiment_permissions_2x(env):
    alice, bob, carol = env.new_user("alice"), env.new_user("bob"), env.new_user("carol")
    exp, run, _ = env.owned(alice)
    with env.as_(alice):
        ac = env.auth()
        ep = ac.create_experiment_permission(exp, bob, "EDIT")
        assert (ep.experiment_id, ep.user_id, ep.permission) == (exp, env.ids[bob], "EDIT")
        with raises("RESOURCE_ALREADY_EXISTS", 400,
                    f"Experiment permission (experiment_id={exp}, username={bob}) already exists."):
            ac.create_experiment_permission(exp, bob, "READ")
        assert ac.get_experiment_permission(exp, bob).permission == "EDIT"
    with env.as_(bob):
        env.client().log_metric(run, "m", 1.0)
        # EDIT is not MANAGE
        with raises("PERMISSION_DENIED", 403):
            env.auth().create_experiment_permission(exp, carol, "READ")
    with env.as_(alice):
        env.auth().update_experiment_permission(exp, bob, "READ")
    with env.as_(bob), raises("PERMISSION_DENIED", 403):
        env.client().log_metric(run, "m", 2.0)
    with env.as_(alice):
        env.auth().update_experiment_permission(exp, bob, "NO_PERMISSIONS")
    with env.as_(bob), raises("PERMISSION_DENIED", 403):
        env.client().get_experiment(exp)
    with env.admin():
        ac = env.auth()
        assert [(p.experiment_id, p.permission) for p in ac.get_user(bob).experiment_permissions] == \
            [(exp, "NO_PERMISSIONS")]
        with raises("INVALID_PARAMETER_VALUE", 400, "Invalid permission 'BOGUS'."):
            ac.update_experiment_permission(exp, bob, "BOGUS")
        ac.delete_experiment_permission(exp, bob)
        with raises("RESOURCE_DOES_NOT_EXIST", 404,
                    f"Experiment permission with experiment_id={exp} and username={bob} not found"):
            ac.get_experiment_permission(exp, bob)
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            ac.delete_experiment_permission(exp, bob)
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            ac.update_experiment_permission(exp, bob, "READ")
        with raises("RESOURCE_DOES_NOT_EXIST", 404, "User with username=nobody-x not found"):
            ac.create_experiment_permission(exp, "nobody-x", "READ")
        # the experiment need not exist
        ac.create_experiment_permission("424242", bob, "READ")
    with env.as_(bob):
        assert env.client().get_experiment(exp).experiment_id == exp


@requires_mlflow2
def test_registered_model_permissions_2x(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    _, _, model = env.owned(alice)
    with env.as_(alice):
        ac = env.auth()
        mp = ac.create_registered_model_permission(model, bob, "EDIT")
        assert (mp.name, mp.user_id, mp.permission) == (model, env.ids[bob], "EDIT")
        with raises("RESOURCE_ALREADY_EXISTS", 400,
                    f"Registered model permission (name={model}, username={bob}) already exists."):
            ac.create_registered_model_permission(model, bob, "EDIT")
    with env.as_(bob):
        env.client().update_registered_model(model, description="bob was here")
        # reading a permission takes MANAGE, even one's own
        with raises("PERMISSION_DENIED", 403):
            env.auth().get_registered_model_permission(model, bob)
    with env.as_(alice):
        assert env.auth().get_registered_model_permission(model, bob).permission == "EDIT"
    with env.as_(alice):
        env.auth().update_registered_model_permission(model, bob, "NO_PERMISSIONS")
    with env.as_(bob):
        with raises("PERMISSION_DENIED", 403):
            env.client().get_registered_model(model)
    with env.admin():
        assert [(p.name, p.permission) for p in env.auth().get_user(bob).registered_model_permissions] == \
            [(model, "NO_PERMISSIONS")]
    with env.as_(alice):
        ac = env.auth()
        ac.delete_registered_model_permission(model, bob)
        with raises("RESOURCE_DOES_NOT_EXIST", 404,
                    f"Registered model permission with name={model} and username={bob} not found"):
            ac.get_registered_model_permission(model, bob)
    with env.as_(bob):
        assert env.client().get_registered_model(model).description == "bob was here"
        with raises("PERMISSION_DENIED", 403):
            env.client().update_registered_model(model, description="no longer")


@lode_only
def test_both_permission_apis_share_grants(env):
    """Lode serves the 3.x per-user grants and 2.x's per-resource APIs at
    once, over the same grants (MLflow 3.17 dropped the 2.x ones)."""
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, _, model = env.owned(alice)
    r = env.http("POST", "/api/3.0/mlflow/users/permissions/grant", alice,
                 json={"username": bob, "resource_type": "experiment", "resource_id": exp, "permission": "EDIT"})
    assert (r.status_code, r.json()) == (200, {})
    r = env.http("GET", "/api/2.0/mlflow/experiments/permissions/get", alice,
                 params={"experiment_id": exp, "username": bob})
    assert r.status_code == 200, r.text
    assert r.json() == {"experiment_permission": {"experiment_id": exp, "user_id": env.ids[bob], "permission": "EDIT"}}
    r = env.http("POST", "/api/2.0/mlflow/registered-models/permissions/create", alice,
                 json={"name": model, "username": bob, "permission": "NO_PERMISSIONS"})
    assert r.status_code == 200, r.text
    r = env.http("GET", "/api/3.0/mlflow/users/permissions/get", bob,
                 params={"username": bob, "resource_type": "registered_model", "resource_id": model})
    assert r.status_code == 200, r.text
    assert r.json()["allowed"] is False
    r = env.http("GET", "/api/2.0/mlflow/users/get", bob, params={"username": bob})
    user = r.json()["user"]
    assert user["experiment_permissions"] == [{"experiment_id": exp, "user_id": env.ids[bob], "permission": "EDIT"}]
    assert user["registered_model_permissions"] == [{"name": model, "user_id": env.ids[bob], "permission": "NO_PERMISSIONS"}]


@requires_mlflow3
@lode_only
def test_deployment_grants(env):
    """Lode's own resource type: a served model's deployment (USE to call
    it, READ for its status)."""
    alice, bob = env.new_user("alice"), env.new_user("bob")
    name = unique("dep")
    with env.admin():
        ac = env.auth()
        p = ac.get_user_permission(bob, "deployment", name)
        assert (p.permission, p.allowed) == ("READ", False)
        ac.grant_user_permission(bob, "deployment", name, "USE")
        p = ac.get_user_permission(bob, "deployment", name)
        assert (p.permission, p.allowed) == ("USE", True)
    with env.as_(alice), raises("PERMISSION_DENIED", 403):
        env.auth().grant_user_permission(alice, "deployment", name, "MANAGE")
    with env.as_(bob):
        assert env.auth().get_user_permission(bob, "deployment", name).permission == "USE"


# ---------------------------------------------------------------------------
# roles (3.x)


@requires_mlflow3
def test_roles(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, run, model = env.owned(alice)
    name = unique("deniers")
    with env.admin():
        ac = env.auth()
        role = ac.create_role("default", name, description="no access to alice's things")
        assert (role.name, role.workspace, role.description, role.permissions) == \
            (name, "default", "no access to alice's things", [])
        rp = ac.add_role_permission(role.id, "experiment", exp, "DENY")
        assert (rp.role_id, rp.resource_type, rp.resource_pattern, rp.permission) == \
            (role.id, "experiment", exp, "DENY")
        mrp = ac.add_role_permission(role.id, "registered_model", model, "DENY")
        with raises("RESOURCE_ALREADY_EXISTS", 400, f"Role (name={name}, workspace=default) already exists."):
            ac.create_role("default", name)
        with raises("RESOURCE_ALREADY_EXISTS", 400,
                    f"Role permission (role_id={role.id}, resource_type=experiment, resource_pattern={exp}) already exists."):
            ac.add_role_permission(role.id, "experiment", exp, "READ")
        with raises("INVALID_PARAMETER_VALUE", 400, "uses the reserved '__user_' prefix"):
            ac.create_role("default", f"__user_{env.ids[bob]}__")
        with raises("INVALID_PARAMETER_VALUE", 400, "Invalid permission 'BOGUS'."):
            ac.add_role_permission(role.id, "experiment", exp, "BOGUS")
        with raises("RESOURCE_DOES_NOT_EXIST", 404, "Role with id=987654 not found"):
            ac.get_role(987654)
    with env.as_(bob):
        assert env.client().get_experiment(exp).experiment_id == exp
        with raises("PERMISSION_DENIED", 403):
            env.auth().create_role("default", unique("mine"))
    with env.admin():
        ac = env.auth()
        a = ac.assign_role(bob, role.id)
        assert (a.user_id, a.role_id) == (env.ids[bob], role.id)
        with raises("RESOURCE_ALREADY_EXISTS", 400,
                    f"User role assignment (user_id={env.ids[bob]}, role_id={role.id}) already exists"):
            ac.assign_role(bob, role.id)
        assert name in [r.name for r in ac.list_roles("default")]
        assert role.id in [r.id for r in ac.list_user_roles(bob)]
        assert [x.user_id for x in ac.list_role_users(role.id)] == [env.ids[bob]]
        perms = ac.list_role_permissions(role.id)
        assert {(p.resource_type, p.resource_pattern, p.permission) for p in perms} == \
            {("experiment", exp, "DENY"), ("registered_model", model, "DENY")}
        assert len(ac.get_role(role.id).permissions) == 2
        p = ac.get_user_permission(bob, "experiment", exp)
        assert (p.permission, p.allowed) == ("DENY", False)
    with env.as_(bob):
        c = env.client()
        with raises("PERMISSION_DENIED", 403):
            c.get_experiment(exp)
        with raises("PERMISSION_DENIED", 403):
            c.get_run(run)
        with raises("PERMISSION_DENIED", 403):
            c.get_registered_model(model)
        assert role.id in [r.id for r in env.auth().list_user_roles(bob)]
    with env.admin():
        ac = env.auth()
        updated = ac.update_role_permission(rp.id, "READ")
        assert (updated.id, updated.permission) == (rp.id, "READ")
        renamed = ac.update_role(role.id, description="reads alice's experiment")
        assert (renamed.name, renamed.description) == (name, "reads alice's experiment")
    with env.as_(bob):
        assert env.client().get_experiment(exp).experiment_id == exp
        with raises("PERMISSION_DENIED", 403):
            env.client().get_registered_model(model)
    with env.admin():
        ac = env.auth()
        ac.remove_role_permission(mrp.id)
        assert [p.id for p in ac.list_role_permissions(role.id)] == [rp.id]
        with raises("RESOURCE_DOES_NOT_EXIST", 404, f"Role permission with id={mrp.id} not found"):
            ac.remove_role_permission(mrp.id)
    with env.as_(bob):
        assert env.client().get_registered_model(model).name == model
    with env.admin():
        ac = env.auth()
        ac.update_role_permission(rp.id, "DENY")
        ac.unassign_role(bob, role.id)
        assert ac.list_role_users(role.id) == []
        with raises("RESOURCE_DOES_NOT_EXIST", 404,
                    f"User role assignment (user_id={env.ids[bob]}, role_id={role.id}) not found"):
            ac.unassign_role(bob, role.id)
    with env.as_(bob):
        assert env.client().get_experiment(exp).experiment_id == exp
    with env.admin():
        ac = env.auth()
        ac.assign_role(bob, role.id)
        ac.delete_role(role.id)
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            ac.get_role(role.id)
        assert role.id not in [r.id for r in ac.list_user_roles(bob)]
    with env.as_(bob):
        # the role's DENY went with it
        assert env.client().get_experiment(exp).experiment_id == exp


@requires_mlflow3
def test_wildcard_and_workspace_roles(env):
    alice, bob, carol = env.new_user("alice"), env.new_user("bob"), env.new_user("carol")
    exp, run, model = env.owned(alice)
    with env.as_(bob):
        own = env.client().create_experiment(unique("bob-exp"))
    with env.admin():
        ac = env.auth()
        deny_all = ac.create_role("default", unique("deny-all"))
        ac.add_role_permission(deny_all.id, "experiment", "*", "DENY")
        reserved = unique("reserved")
        ac.add_role_permission(deny_all.id, "registered_model", reserved, "DENY")
        elsewhere = ac.create_role(unique("ws"), unique("deny-elsewhere"))
        ac.add_role_permission(elsewhere.id, "experiment", exp, "DENY")
        ws_admin = ac.create_role("default", unique("ws-admin"))
        ac.add_role_permission(ws_admin.id, "workspace", "*", "MANAGE")
        with raises("INVALID_PARAMETER_VALUE", 400, "Workspace-wide grants accept only"):
            ac.add_role_permission(ws_admin.id, "workspace", "*", "READ")
        ac.assign_role(bob, deny_all.id)
        ac.assign_role(carol, elsewhere.id)
    with env.as_(bob):
        c = env.client()
        # DENY on every experiment beats bob's MANAGE on his own
        for e in (exp, own):
            with raises("PERMISSION_DENIED", 403):
                c.get_experiment(e)
        with raises("PERMISSION_DENIED", 403):
            c.get_run(run)
        assert c.search_experiments() == []
        # nor may he make experiments he could not read, nor a model of a denied name
        with raises("PERMISSION_DENIED", 403):
            c.create_experiment(unique("bob-exp"))
        with raises("PERMISSION_DENIED", 403):
            c.create_registered_model(reserved)
        c.create_registered_model(unique("bob-model"))
        # models are another type
        assert c.get_registered_model(model).name == model
    with env.as_(carol):
        # only roles of the "default" workspace count while workspaces are off
        assert env.client().get_experiment(exp).experiment_id == exp
        with raises("PERMISSION_DENIED", 403):
            env.client().set_experiment_tag(exp, "k", "v")
    with env.admin():
        env.auth().assign_role(carol, ws_admin.id)
        env.auth().assign_role(bob, ws_admin.id)
    with env.as_(carol):
        # a workspace manager may do anything to any resource
        c = env.client()
        c.set_experiment_tag(exp, "by", "carol")
        c.update_registered_model(model, description="by carol")
        c.log_metric(run, "m", 1.0)
        # and grant on every resource of a type
        env.auth().grant_user_permission(alice, "experiment", "*", "EDIT")
    with env.as_(bob):
        # and that beats DENY
        assert env.client().get_experiment(exp).tags["by"] == "carol"
        env.client().create_experiment(unique("bob-exp"))


@requires_mlflow3
@pytest.mark.skipif(REFERENCE, reason=(
    "MLflow 3 lets a holder of (workspace, *, MANAGE) create users and manage the roles of that "
    "workspace (create, list, assign); Lode keeps users and roles to admins"))
def test_workspace_managers_do_not_administer_users(env):
    carol = env.new_user("carol")
    with env.admin():
        ws_admin = env.auth().create_role("default", unique("ws-admin"))
        env.auth().add_role_permission(ws_admin.id, "workspace", "*", "MANAGE")
        env.auth().assign_role(carol, ws_admin.id)
    with env.as_(carol):
        ac = env.auth()
        for call in (
            lambda: ac.create_user(unique("dave"), "pw-" + uuid.uuid4().hex),
            lambda: ac.create_role("default", unique("mine")),
            lambda: ac.list_roles("default"),
            lambda: ac.assign_role(carol, ws_admin.id),
        ):
            with raises("PERMISSION_DENIED", 403):
                call()


@requires_mlflow3
def test_role_holders_see_their_own_roles(env):
    alice, bob, carol = env.new_user("alice"), env.new_user("bob"), env.new_user("carol")
    exp, _, _ = env.owned(alice)
    with env.admin():
        ac = env.auth()
        role = ac.create_role("default", unique("editors"))
        ac.add_role_permission(role.id, "experiment", exp, "EDIT")
        ac.assign_role(bob, role.id)
    with env.as_(bob):
        mine = [r for r in env.auth().list_user_roles(bob) if r.id == role.id]
        assert [[(p.resource_type, p.resource_pattern, p.permission) for p in r.permissions] for r in mine] == \
            [[("experiment", exp, "EDIT")]]
        env.client().set_experiment_tag(exp, "by", "bob")
        with raises("PERMISSION_DENIED", 403):
            env.auth().list_user_roles(alice)
        with raises("PERMISSION_DENIED", 403):
            env.auth().list_role_users(role.id)
        with raises("PERMISSION_DENIED", 403):
            env.auth().assign_role(carol, role.id)
    with env.as_(carol):
        # carol holds no role
        with raises("PERMISSION_DENIED", 403):
            env.auth().get_role(role.id)
        with raises("PERMISSION_DENIED", 403):
            env.auth().list_roles("default")


@requires_mlflow3
@pytest.mark.skipif(REFERENCE, reason=(
    "MLflow 3 lets anyone holding a role in a workspace read every role there (get_role, "
    "list_role_permissions, list_roles); with workspaces off that is every user granted anything "
    "(their __user_<id>__ role), who so reads everyone's grants. Lode keeps roles to admins; "
    "users see their own through list_user_roles"))
def test_roles_are_the_admins_to_read(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, _, _ = env.owned(alice)
    with env.admin():
        ac = env.auth()
        role = ac.create_role("default", unique("editors"))
        ac.add_role_permission(role.id, "experiment", exp, "EDIT")
        ac.assign_role(bob, role.id)
    with env.as_(bob):
        with raises("PERMISSION_DENIED", 403):
            env.auth().get_role(role.id)
        with raises("PERMISSION_DENIED", 403):
            env.auth().list_role_permissions(role.id)
        with raises("PERMISSION_DENIED", 403):
            env.auth().list_roles("default")


# ---------------------------------------------------------------------------
# searches see only what the caller may read


def test_searches_skip_denied_resources(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    prefix = unique("filtered")
    with env.as_(alice):
        c = env.client()
        exps = [c.create_experiment(f"{prefix}-{i}") for i in range(3)]
        models = [f"{prefix}-m{i}" for i in range(3)]
        for m in models:
            c.create_registered_model(m)
        ac = env.auth()
        if IS_MLFLOW3:
            ac.grant_user_permission(bob, "experiment", exps[1], "DENY")
            ac.grant_user_permission(bob, "registered_model", models[1], "DENY")
        else:
            ac.create_experiment_permission(exps[1], bob, "NO_PERMISSIONS")
            ac.create_registered_model_permission(models[1], bob, "NO_PERMISSIONS")

    def seen(who):
        with env.as_(who):
            c = env.client()
            es = c.search_experiments(filter_string=f"name LIKE '{prefix}%'", max_results=1000)
            ms = c.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=1000)
            return sorted(e.experiment_id for e in es), sorted(m.name for m in ms)

    assert seen(bob) == (sorted([exps[0], exps[2]]), [models[0], models[2]])
    assert seen(alice) == (sorted(exps), models)
    assert seen(ADMIN) == (sorted(exps), models)
    # pages are full pages of what bob may read
    with env.as_(bob):
        page = env.client().search_experiments(filter_string=f"name LIKE '{prefix}%'", max_results=2)
        assert sorted(e.experiment_id for e in page) == sorted([exps[0], exps[2]])
        with raises("PERMISSION_DENIED", 403):
            env.client().get_experiment(exps[1])


def deny(env, owner: str, user: str, experiment: str | None = None, model: str | None = None):
    """The owner takes all access to their experiment or model from user:
    3.x grants DENY, 2.x sets NO_PERMISSIONS."""
    with env.as_(owner):
        ac = env.auth()
        if experiment is not None:
            if IS_MLFLOW3:
                ac.grant_user_permission(user, "experiment", experiment, "DENY")
            else:
                ac.create_experiment_permission(experiment, user, "NO_PERMISSIONS")
        if model is not None:
            if IS_MLFLOW3:
                ac.grant_user_permission(user, "registered_model", model, "DENY")
            else:
                ac.create_registered_model_permission(model, user, "NO_PERMISSIONS")


def test_run_and_version_searches_for_a_denied_user(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, run, model = env.owned(alice)
    with env.as_(alice):
        env.client().create_model_version(model, f"runs:/{run}/model", run_id=run)
    with env.as_(bob):
        c = env.client()
        assert [r.info.run_id for r in c.search_runs([exp])] == [run]
        assert [v.version for v in c.search_model_versions(f"name = '{model}'")] == ["1"]
    deny(env, alice, bob, experiment=exp, model=model)
    with env.as_(bob):
        c = env.client()
        with raises("PERMISSION_DENIED", 403):
            c.get_experiment(exp)
        with raises("PERMISSION_DENIED", 403):
            c.get_model_version(model, "1")
        if REFERENCE and not IS_MLFLOW3:
            # MLflow 2 filters neither runs/search nor model-versions/search
            return
        assert c.search_runs([exp]) == []
        assert c.search_model_versions(f"name = '{model}'") == []


def test_registry_writes_and_grants_follow_the_model(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, run, model = env.owned(alice)
    with env.as_(alice):
        env.client().create_model_version(model, f"runs:/{run}/model", run_id=run)
    with env.as_(bob):
        c = env.client()
        assert c.get_model_version(model, "1").run_id == run
        for call in (
            lambda: c.create_model_version(model, f"runs:/{run}/model", run_id=run),
            lambda: c.update_model_version(model, "1", description="bob's"),
            lambda: c.set_model_version_tag(model, "1", "k", "v"),
            lambda: c.set_registered_model_alias(model, "champion", "1"),
            lambda: c.delete_model_version(model, "1"),
            lambda: c.rename_registered_model(model, unique("stolen")),
        ):
            with raises("PERMISSION_DENIED", 403):
                call()
    renamed = unique("renamed")
    with env.as_(alice):
        env.client().rename_registered_model(model, renamed)
        # the owner's MANAGE moved with the name
        env.client().set_registered_model_alias(renamed, "champion", "1")
    with env.admin():
        if IS_MLFLOW3:
            assert env.auth().get_user_permission(alice, "registered_model", renamed).permission == "MANAGE"
            assert env.auth().get_user_permission(alice, "registered_model", model).permission == "READ"
        else:
            assert env.auth().get_registered_model_permission(renamed, alice).permission == "MANAGE"
            with raises("RESOURCE_DOES_NOT_EXIST", 404):
                env.auth().get_registered_model_permission(model, alice)
    with env.as_(alice):
        env.client().delete_registered_model(renamed)
    # a model made again under the name is its new maker's alone
    with env.as_(bob):
        env.client().create_registered_model(renamed)
    with env.as_(alice), raises("PERMISSION_DENIED", 403):
        env.client().update_registered_model(renamed, description="not any more")


def _http_status(e: BaseException) -> int | None:
    """The HTTP status behind an artifact call's error: the client raises
    requests' HTTPError for the artifact proxy, sometimes chained to an
    MlflowException, sometimes only quoted in one's message ("403 Client
    Error: ...", the 2.x client's parallel downloads)."""
    first = e
    while e is not None:
        if isinstance(e, requests.HTTPError) and e.response is not None:
            return e.response.status_code
        if isinstance(e, MlflowException) and e.get_http_status_code() in (401, 403):
            return e.get_http_status_code()
        e = e.__cause__ or e.__context__
    m = re.search(r"\b(\d{3}) Client Error\b", str(first))
    return int(m.group(1)) if m else None


def test_artifacts_follow_the_experiment(env, tmp_path):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, run, _ = env.owned(alice)
    f = tmp_path / "note.txt"
    f.write_text("hello")
    with env.as_(alice):
        env.client().log_artifact(run, str(f))
    with env.as_(bob):
        c = env.client()
        assert [a.path for a in c.list_artifacts(run)] == ["note.txt"]
        got = c.download_artifacts(run, "note.txt", str(tmp_path))
        assert Path(got).read_text() == "hello"
        with pytest.raises(Exception) as ei:
            c.log_artifact(run, str(f), artifact_path="bob")
        assert _http_status(ei.value) == 403, repr(ei.value)
    deny(env, alice, bob, experiment=exp)
    with env.as_(bob):
        c = env.client()
        (tmp_path / "again").mkdir()
        with pytest.raises(Exception) as ei:
            c.download_artifacts(run, "note.txt", str(tmp_path / "again"))
        assert _http_status(ei.value) == 403, repr(ei.value)
    with env.as_(alice):
        assert [a.path for a in env.client().list_artifacts(run)] == ["note.txt"]


# ---------------------------------------------------------------------------
# users: passwords, admin flag, deletion


def test_update_user_password(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    old = env.passwords[alice]
    new = "new-" + uuid.uuid4().hex
    with env.as_(alice):
        if IS_MLFLOW3:
            with raises("INVALID_PARAMETER_VALUE", 400, "Current password does not match."):
                env.auth().update_user_password(alice, new, current_password="wrong-" + old)
            with raises("INVALID_PARAMETER_VALUE", 400, "New password must differ from the current password."):
                env.auth().update_user_password(alice, old, current_password=old)
            env.auth().update_user_password(alice, new, current_password=old)
        else:
            # the 2.x client has no current_password
            env.auth().update_user_password(alice, new)
    with identity(alice, old), raises("UNAUTHENTICATED", 401):
        env.client().search_experiments()
    env.passwords[alice] = new
    with env.as_(alice):
        env.client().search_experiments()
    with env.as_(bob), raises("PERMISSION_DENIED", 403):
        env.auth().update_user_password(alice, "bobs-" + uuid.uuid4().hex)
    # an admin sets another user's password without knowing it
    newer = "newer-" + uuid.uuid4().hex
    with env.admin():
        if not (REFERENCE and not IS_MLFLOW3):
            # (MLflow 2 checks the length on create only)
            with raises("INVALID_PARAMETER_VALUE", 400):
                env.auth().update_user_password(alice, "short")
        env.auth().update_user_password(alice, newer)
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            env.auth().update_user_password("nobody-" + uuid.uuid4().hex[:8], newer)
    env.passwords[alice] = newer
    with env.as_(alice):
        env.client().search_experiments()


@requires_mlflow3
def test_self_password_change_without_current_password(env):
    """MLflow 3 wants current_password from anyone changing their own
    password. Lode waives it when the request itself proved the password
    (HTTP Basic, as every 2.x client sends it: that client cannot send
    current_password) and asks for it otherwise (see the token test)."""
    alice = env.new_user("alice")
    new = "new-" + uuid.uuid4().hex
    with env.as_(alice):
        if REFERENCE:
            with raises("INVALID_PARAMETER_VALUE", 400, "Current password is required"):
                env.auth().update_user_password(alice, new)
            return
        env.auth().update_user_password(alice, new)
    env.passwords[alice] = new
    with env.as_(alice):
        env.client().search_experiments()


def test_update_user_admin(env):
    bob = env.new_user("bob")
    with env.as_(bob), raises("PERMISSION_DENIED", 403):
        env.auth().create_user(unique("carol"), "pw-" + uuid.uuid4().hex)
    with env.as_(bob), raises("PERMISSION_DENIED", 403):
        env.auth().update_user_admin(bob, True)
    with env.admin():
        env.auth().update_user_admin(bob, True)
        assert env.auth().get_user(bob).is_admin is True
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            env.auth().update_user_admin("nobody-" + uuid.uuid4().hex[:8], True)
    with env.as_(bob):
        carol = unique("carol")
        env.auth().create_user(carol, "pw-" + uuid.uuid4().hex)
        assert env.auth().get_user(ADMIN).is_admin is True
    with env.admin():
        env.auth().update_user_admin(bob, False)
    with env.as_(bob), raises("PERMISSION_DENIED", 403):
        env.auth().get_user(carol)


def test_delete_user(env):
    carol, bob = env.new_user("carol"), env.new_user("bob")
    with env.as_(carol):
        env.client().search_experiments()
    with env.as_(bob), raises("PERMISSION_DENIED", 403):
        env.auth().delete_user(carol)
    with env.admin():
        env.auth().delete_user(carol)
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            env.auth().get_user(carol)
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            env.auth().delete_user(carol)
    with env.as_(carol), raises("UNAUTHENTICATED", 401):
        env.client().search_experiments()


@pytest.mark.skipif(REFERENCE and not IS_MLFLOW3,
                    reason="MLflow 2.22.5 cannot delete a user who has permission rows (IntegrityError)")
def test_delete_user_with_grants(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, _, model = env.owned(alice)
    with env.admin():
        env.auth().delete_user(alice)
        with raises("RESOURCE_DOES_NOT_EXIST", 404):
            env.auth().get_user(alice)
    with env.as_(bob):
        # what alice made stays, readable as before
        assert env.client().get_experiment(exp).experiment_id == exp
        assert env.client().get_registered_model(model).name == model
    # a new user of the same name inherits none of the old one's grants
    with env.admin():
        env.auth().create_user(alice, env.passwords[alice])
    with env.as_(alice), raises("PERMISSION_DENIED", 403):
        env.client().set_experiment_tag(exp, "k", "v")


@pytest.mark.skipif(REFERENCE and not IS_MLFLOW3,
                    reason="MLflow 2.22.5 lets an admin delete their own account; Lode refuses (so does 3.x)")
def test_nobody_deletes_themselves(env):
    other = env.new_user("admin2")
    with env.admin():
        env.auth().update_user_admin(other, True)
    with env.as_(other):
        with raises("BAD_REQUEST", 400, "Users cannot delete their own account."):
            env.auth().delete_user(other)
        env.auth().delete_user(env.new_user("victim"))
    with env.admin():
        assert env.auth().get_user(other).is_admin is True
        env.auth().delete_user(other)


# ---------------------------------------------------------------------------
# Lode: tokens and jobs


def _lode(env, method, path, who=None, **kw):
    r = env.http(method, "/api/2.0/lode/" + path, who, **kw)
    assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


@lode_only
def test_token_logs_runs_until_revoked(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, _, _ = env.owned(alice)
    out = _lode(env, "POST", "tokens/create", alice, json={"name": "ci", "expires_in_days": 1})
    token, secret = out["token"], out["secret"]
    assert (token["name"], token["username"], token["kind"]) == ("ci", alice, "api")
    with identity(token=secret):
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.log_metric("loss", 0.25)
        c = env.client()
        assert c.get_run(run.info.run_id).data.metrics == {"loss": 0.25}
        # a token acts as its user: no more
        bobs = env.owned(bob)[0]
        with raises("PERMISSION_DENIED", 403):
            c.set_experiment_tag(bobs, "k", "v")
        # changing one's password with a token needs the current one
        with raises("INVALID_PARAMETER_VALUE", 400):
            env.auth().update_user_password(alice, "new-" + uuid.uuid4().hex)
    assert token["id"] in [t["id"] for t in _lode(env, "GET", "tokens/list", alice)["tokens"]]
    assert env.http("GET", "/api/2.0/lode/tokens/list", bob, params={"username": alice}).status_code == 403
    assert env.http("POST", "/api/2.0/lode/tokens/revoke", bob, json={"id": token["id"]}).status_code in (403, 404)
    assert _lode(env, "POST", "tokens/revoke", alice, json={"id": token["id"]}) == {}
    assert token["id"] not in [t["id"] for t in _lode(env, "GET", "tokens/list", alice)["tokens"]]
    with identity(token=secret), raises("UNAUTHENTICATED", 401):
        env.client().search_experiments()
    # Basic wins over a token when both are set, as the client sends them
    with identity(alice, env.passwords[alice], token=secret):
        env.client().search_experiments()


JOB_SCRIPT = """
import os, sys, requests
from mlflow import MlflowClient
assert "MLFLOW_TRACKING_USERNAME" not in os.environ and "MLFLOW_TRACKING_PASSWORD" not in os.environ
run_id = os.environ["MLFLOW_RUN_ID"]
c = MlflowClient()
c.log_metric(run_id, "job_metric", 42.0)
# a job's token makes no more credentials
r = requests.post(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/lode/tokens/create", json={"name": "x"},
                  headers={"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]}, timeout=30)
c.set_tag(run_id, "tokens_create_status", str(r.status_code))
print("logged", run_id, os.environ["LODE_TEST_SECRET"] == "s3cret-value")
"""


@lode_only
def test_job_runs_as_its_submitter(env):
    alice, bob = env.new_user("alice"), env.new_user("bob")
    exp, _, _ = env.owned(alice)
    py = REPO_ROOT / ".venv" / "mlflow3" / "bin" / "python"
    if not py.exists():
        py = Path(sys.executable)
    job = _lode(env, "POST", "jobs/submit", alice, json={
        "name": "auth-job", "experiment_id": exp, "timeout_seconds": 120,
        "command": f"{shlex.quote(str(py))} -c {shlex.quote(JOB_SCRIPT)}",
        "env": {"LODE_TEST_SECRET": "s3cret-value"},
        # the request's user is ignored: a job is its submitter's
        "user": bob,
    })["job"]
    assert job["spec"]["user"] == alice
    deadline = time.monotonic() + 150
    while job["state"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
        assert time.monotonic() < deadline, f"job still {job['state']}"
        time.sleep(0.5)
        job = _lode(env, "GET", "jobs/get", alice, params={"id": job["id"]})["job"]
    if job["state"] != "SUCCEEDED":
        r = env.http("GET", "/api/2.0/lode/jobs/logs", alice, params={"id": job["id"]})
        pytest.fail(f"job {job['state']}: {job.get('reason')}\n{r.text}")
    with env.as_(alice):
        run = env.client().get_run(job["run_id"])
    assert run.info.user_id == alice
    assert run.data.metrics["job_metric"] == 42.0
    assert run.data.tags["tokens_create_status"] == "403"
    # the job's token went with it
    tokens = _lode(env, "GET", "tokens/list", ADMIN, params={"all": "true"})["tokens"]
    assert [t for t in tokens if t.get("job_id") == job["id"]] == []
    # env values are the owner's (and admins') to see
    assert _lode(env, "GET", "jobs/get", alice, params={"id": job["id"]})["job"]["spec"]["env"] == \
        {"LODE_TEST_SECRET": "s3cret-value"}
    assert _lode(env, "GET", "jobs/get", ADMIN, params={"id": job["id"]})["job"]["spec"]["env"] == \
        {"LODE_TEST_SECRET": "s3cret-value"}
    seen = _lode(env, "GET", "jobs/get", bob, params={"id": job["id"]})["job"]
    assert seen["spec"]["env"] == {"LODE_TEST_SECRET": "[redacted]"}
    listed = [j for j in _lode(env, "GET", "jobs/list", bob)["jobs"] if j["id"] == job["id"]]
    assert [j["spec"]["env"] for j in listed] == [{"LODE_TEST_SECRET": "[redacted]"}]
