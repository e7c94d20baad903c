// Package optunapb is the Go code protoc generates from Optuna's storage
// service definition (../api.proto): its messages and the
// optuna.StorageService server and client. Do not edit the generated
// files; regenerate them with `make optuna-proto`, which runs the
// directive below with protoc from grpcio-tools and the Go plugins at the
// versions the Makefile pins.
package optunapb

//go:generate python -m grpc_tools.protoc --proto_path=.. --go_out=. --go_opt=paths=source_relative --go_opt=Mapi.proto=github.com/lode-ml/lode/optunagrpc/optunapb --go-grpc_out=. --go-grpc_opt=paths=source_relative --go-grpc_opt=Mapi.proto=github.com/lode-ml/lode/optunagrpc/optunapb ../api.proto
