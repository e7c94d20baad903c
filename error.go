// Package lode holds what every part of Lode shares: the one error type,
// whose codes are MLflow's error codes. Domain packages (tracking, ...) and
// adapters (sqlite, mlflowapi, ...) build on it; the HTTP adapter is the only
// place a code becomes an HTTP status.
package lode

import (
	"errors"
	"fmt"
)

// Error codes, named as MLflow names them (mlflow/protos/databricks.proto), so
// they cross the wire unchanged and clients raise the same exceptions.
const (
	EInvalid          = "INVALID_PARAMETER_VALUE"
	ENotFound         = "RESOURCE_DOES_NOT_EXIST"
	EExists           = "RESOURCE_ALREADY_EXISTS"
	EInternal         = "INTERNAL_ERROR"
	EPermission       = "PERMISSION_DENIED"
	EUnauthenticated  = "UNAUTHENTICATED"
	EBadRequest       = "BAD_REQUEST"
	EInvalidState     = "INVALID_STATE"
	ENotImplemented   = "NOT_IMPLEMENTED"
	ETooLarge         = "REQUEST_LIMIT_EXCEEDED"
	EEndpointNotFound = "ENDPOINT_NOT_FOUND"
	EUnavailable      = "TEMPORARILY_UNAVAILABLE"
	EOverloaded       = "RESOURCE_EXHAUSTED"
	EDeadline         = "DEADLINE_EXCEEDED"
)

// Error is Lode's error: a code, a message safe to show to users, and the
// underlying cause (logged, never shown) for internal errors.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error: users see only msg, logs see err.
func Internal(err error, msg string) *Error {
	return &Error{Code: EInternal, Message: msg, Err: err}
}

// ErrorCode returns the code of err, or EInternal when err is not an *Error.
// It returns "" for a nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-safe message of err. Errors that are not an
// *Error are hidden behind a generic message.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
