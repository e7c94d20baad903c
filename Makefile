# Lode's build. `make run` starts the server with embedded defaults;
# `make test` runs every test CI runs (Go, then the real mlflow clients).

GO        ?= go
PYTHON    ?= python3
BIN       := bin/lode
# A PEP 440 version: the mlflow client parses /version with packaging.
VERSION   ?= 0.1.0.dev0+g$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION)
VENV      := .venv
# The mlflow releases the compatibility suite runs against: the newest 3.x
# and the last 2.x (requirements pinned in tests/python/).
MLFLOW_SERIES := mlflow3 mlflow2

# ONNX Runtime's shared library, from the npm package onnxruntime-node
# (scripts/fetch-onnxruntime.sh); lode finds it in lib/onnxruntime/.
ORT_LIB   := lib/onnxruntime/libonnxruntime.so.1

# A real S3 server for the tests: versitygw (Apache-2.0, POSIX backend),
# built once from the Go module proxy into build/bin.
VERSITYGW := build/bin/versitygw

.PHONY: all build run test go-test py-test serving-test jobs-test optuna-test optuna-proto test-deps venvs onnxruntime fuzz bench bench-tracking bench-auth bench-serving bench-jobs bench-pg bench-import bench-history bench-tune bench-optuna clean help

all: build

help:
	@echo "make run      build and start the server (127.0.0.1:5000, ./lode-data)"
	@echo "make test     Go tests, the mlflow-client suite on mlflow 3.x and 2.x, the serving, jobs and Optuna suites"
	@echo "make onnxruntime  fetch ONNX Runtime's shared library into lib/onnxruntime/ (with npm; needed to serve ONNX models)"
	@echo "make bench    benchmarks against mlflow server, mlflow models serve, MLServer and xargs (docs/benchmarks.md)"
	@echo "make bench-auth  what authentication costs: Lode without auth, with Basic and a token, against mlflow server --app-name basic-auth"
	@echo "make bench-optuna  Optuna ask/tell trials/s: GrpcStorageProxy to Lode, to Optuna's own proxy over SQLite, and RDBStorage on SQLite"
	@echo "make fuzz     run the fuzzers for a short while"

build: $(BIN)

$(BIN): $(shell find . -name '*.go' -not -path './.venv/*' -not -path './bench/*') $(wildcard */migrations/*.sql) $(shell find web/templates web/static -type f) go.mod go.sum
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/lode

# ONNX Runtime is needed only to serve ONNX models (make onnxruntime, with
# npm): the server starts without it and refuses such models, saying why.
run: $(BIN)
	./$(BIN) server

onnxruntime: $(ORT_LIB)

$(ORT_LIB): scripts/fetch-onnxruntime.sh
	bash scripts/fetch-onnxruntime.sh lib/onnxruntime

test: go-test py-test serving-test jobs-test optuna-test

# Debian packages the tests use: git (lode run of git projects), PyTorch
# for CPU (the distributed-training test), Chromium (the web UI's tests)
# and PostgreSQL (the tests start throwaway servers of their own),
# installed once, as root.
test-deps:
	bash scripts/apt-install.sh git python3-torch chromium postgresql

# The Go tests of the runtimes use a real ONNX Runtime and a real Python
# with mlflow (the mlflow 3 suite's venv); the web UI's run in headless
# Chromium and save screenshots in test-output/screenshots.
go-test: $(ORT_LIB) $(VENV)/mlflow3/.installed test-deps $(VERSITYGW)
	$(GO) vet ./...
	LODE_REQUIRE_ONNXRUNTIME=1 LODE_ONNXRUNTIME_LIB=$(CURDIR)/$(ORT_LIB) \
	LODE_TEST_PYTHON=$(CURDIR)/$(VENV)/mlflow3/bin/python \
	LODE_REQUIRE_CHROMIUM=1 LODE_SCREENSHOTS=$(CURDIR)/test-output/screenshots \
	LODE_REQUIRE_S3=1 LODE_VERSITYGW=$(CURDIR)/$(VERSITYGW) LODE_REQUIRE_POSTGRES=1 \
		$(GO) test -count=1 ./...

$(VERSITYGW):
	GOBIN=$(CURDIR)/build/bin $(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0

# One virtual environment per mlflow series, rebuilt when its pinned
# requirements change.
$(VENV)/%/.installed: tests/python/requirements-%.txt
	rm -rf $(VENV)/$*
	$(PYTHON) -m venv $(VENV)/$*
	$(VENV)/$*/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

venvs: $(foreach s,$(MLFLOW_SERIES),$(VENV)/$(s)/.installed)

# Optuna's own client, pinned, in a venv of its own (tests/optuna).
$(VENV)/optuna/.installed: tests/optuna/requirements.txt
	rm -rf $(VENV)/optuna
	$(PYTHON) -m venv $(VENV)/optuna
	$(VENV)/optuna/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

py-test: $(BIN) venvs
	@for s in $(MLFLOW_SERIES); do \
		echo "== mlflow client suite: $$s ($$($(VENV)/$$s/bin/python -c 'import mlflow; print(mlflow.__version__)'))"; \
		LODE_BIN=$(BIN) $(VENV)/$$s/bin/python -m pytest -p no:cacheprovider tests/python || exit 1; \
	done

# Model serving with real clients (tritonclient, mlflow's scoring client,
# curl) against `lode serve` and `lode server` deployments.
serving-test: $(BIN) $(ORT_LIB) $(VENV)/mlflow3/.installed
	LODE_BIN=$(BIN) $(VENV)/mlflow3/bin/python -m pytest -p no:cacheprovider tests/serving

# Jobs with the real `lode job` and `lode run` CLIs: two-process PyTorch DDP
# (gloo, CPU), cancel/timeout/retries, restart re-adoption, the wine
# example project built into its own virtualenv (about three minutes), and
# the tune-logreg example's two `lode tune` studies (one to two and a half
# minutes more).
jobs-test: $(BIN) $(VENV)/mlflow3/.installed test-deps
	LODE_BIN=$(BIN) LODE_REQUIRE_TORCH=1 $(VENV)/mlflow3/bin/python -m pytest -p no:cacheprovider tests/jobs

# Optuna's storage service in Go (optunagrpc/optunapb), generated from
# optunagrpc/api.proto by protoc from grpcio-tools with the Go plugins at
# pinned versions; the output is committed, so only a new api.proto needs
# this.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
optuna-proto: $(VENV)/optuna/.installed
	GOBIN=$(CURDIR)/build/bin $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/build/bin $(GO) install $(PROTOC_GEN_GO_GRPC)
	cd optunagrpc/optunapb && PATH=$(CURDIR)/build/bin:$(CURDIR)/$(VENV)/optuna/bin:$$PATH $(GO) generate .

# Optuna's code against lode server through GrpcStorageProxy: four worker
# processes sharing a study with a pruner, resume, trials_dataframe, and
# copy_study from an SQLite RDB study (about 10 s).
optuna-test: $(BIN) $(VENV)/optuna/.installed
	LODE_BIN=$(BIN) $(VENV)/optuna/bin/python -m pytest -p no:cacheprovider tests/optuna

FUZZTIME ?= 30s
fuzz:
	$(GO) test ./tracking -run '^$$' -fuzz '^FuzzParseRunFilter$$' -fuzztime $(FUZZTIME)
	$(GO) test ./tracking -run '^$$' -fuzz '^FuzzParseExperimentFilter$$' -fuzztime $(FUZZTIME)
	$(GO) test ./tracking -run '^$$' -fuzz '^FuzzParseRunOrderBy$$' -fuzztime $(FUZZTIME)
	$(GO) test ./artifact -run '^$$' -fuzz '^FuzzCleanPath$$' -fuzztime $(FUZZTIME)
	$(GO) test ./artifact -run '^$$' -fuzz '^FuzzValidateLocation$$' -fuzztime $(FUZZTIME)
	$(GO) test ./mlflowapi -run '^$$' -fuzz '^FuzzJSONFields$$' -fuzztime $(FUZZTIME)

bench: bench-tracking bench-serving bench-jobs

# Tracking: Lode against `mlflow server` (about 11 minutes).
bench-tracking: $(BIN) $(VENV)/mlflow3/.installed
	LODE_BIN=$(BIN) bash bench/run.sh

# What authentication costs: Lode without it, with HTTP Basic and with a
# token, against `mlflow server --app-name basic-auth` (about 7 minutes;
# not part of make bench).
bench-auth: $(BIN) $(VENV)/mlflow3/.installed
	LODE_BIN=$(BIN) bash bench/run.sh -auth

# Serving: Lode (ONNX, Python workers) against MLServer and `mlflow models
# serve`, plus a constant Go handler as the ceiling (about 3 minutes).
bench-serving: $(BIN) $(ORT_LIB) $(VENV)/mlflow3/.installed
	LODE_BIN=$(BIN) bash bench/serving.sh

# Tracking on PostgreSQL: Lode against `mlflow server`, one throwaway
# PostgreSQL server, 100,000 runs (about 9 minutes; not part of make bench).
bench-pg: $(BIN) $(VENV)/mlflow3/.installed
	LODE_BIN=$(BIN) MLFLOW=$(CURDIR)/$(VENV)/mlflow3/bin/mlflow bash bench/pg.sh

# lode import mlflow at scale: 20,000 runs from MLflow on PostgreSQL, one
# worker against four (about 5 minutes; N=100000 for more).
bench-import: $(VENV)/mlflow3/.installed
	bash bench/import.sh

# Memory of lode server while 8 mlflow clients read a 400,000-value
# metric history at once, and once more without max_results (about 2
# minutes a binary; not part of make bench). LODE_BIN="old new" compares
# binaries.
bench-history: $(BIN) $(VENV)/mlflow3/.installed
	$(VENV)/mlflow3/bin/python bench/history.py $(foreach b,$(or $(LODE_BIN),$(BIN)),--lode $(b))

# Jobs: launch overhead (submit → process started) against `xargs -P`,
# one at a time and a burst of 1,000 (about 40 s).
bench-jobs: $(BIN)
	LODE_BIN=$(BIN) bash bench/jobs.sh

# Tuning quality: Lode's TPE against Optuna's TPESampler (pinned in
# bench/requirements-tune.txt) on Branin, Hartmann-6 and Rosenbrock-10,
# 20 seeds each (about 1 minute; not part of make bench).
$(VENV)/tunebench/.installed: bench/requirements-tune.txt
	rm -rf $(VENV)/tunebench
	$(PYTHON) -m venv $(VENV)/tunebench
	$(VENV)/tunebench/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

bench-tune: $(VENV)/tunebench/.installed
	$(GO) build -o bin/tunebench ./bench/tunebench
	$(VENV)/tunebench/bin/python bench/tune.py --lode bin/tunebench

# Optuna storage speed: ask/tell trials per second through
# GrpcStorageProxy against lode server, against Optuna's own
# run_grpc_proxy_server over SQLite, and RDBStorage on SQLite directly, 1
# and 8 worker processes: all at 500 trials (3 repetitions; Optuna's SQLite
# storages do 10-80 trials/s here), then Lode alone at 10,000 (about 7-8
# minutes in all; not part of make bench).
bench-optuna: $(BIN) $(VENV)/optuna/.installed
	$(VENV)/optuna/bin/python bench/optuna_storage.py --lode $(BIN) --backends lode,proxy,rdb,lode-normal --trials 500 --reps 3 --time-cap 60
	$(VENV)/optuna/bin/python bench/optuna_storage.py --lode $(BIN) --backends lode --trials 10000 --reps 1

clean:
	rm -rf bin lib
