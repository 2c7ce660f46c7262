// Package fault defines the one error type that crosses Plinth's layers, and the catalogue of
// problem types clients see (catalogue.go). Engine and drivers return *Error with a Code and,
// where the code alone says too little, a Type from the catalogue; the type fixes the status,
// so the transport has no table of its own. Message, Fields and Extra are written for clients;
// Err, the cause, is only ever logged.
package fault

import (
	"errors"
	"fmt"
)

// Code classifies an error by what the client can do about it.
type Code string

// The codes. Anything that is not a *Error is Internal.
const (
	Invalid            Code = "invalid"             // the request is malformed or fails validation
	Unauthorized       Code = "unauthorized"        // no or bad credentials where they are needed
	Forbidden          Code = "forbidden"           // authenticated, but not allowed
	NotFound           Code = "not_found"           // no such thing, or the caller may not know of it
	Conflict           Code = "conflict"            // the request clashes with the current state
	PreconditionFailed Code = "precondition_failed" // If-Match did not match
	PreconditionNeeded Code = "precondition_needed" // the write needs If-Match
	Unavailable        Code = "unavailable"         // try again later
	Internal           Code = "internal"            // a bug or an unexpected failure
)

// FieldError is one invalid field: a path such as items[0].quantity, a stable code such as
// min or required, and a sentence for people.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is a classified error.
type Error struct {
	Code    Code
	Type    Type   // the problem type clients see, from the catalogue; the zero Type means the Code's
	Message string // safe to show to clients
	Fields  []FieldError
	Extra   map[string]any // further members of the problem document, safe to show; the Type must declare them
	Err     error          // the cause, for logs only
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with a client-safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies cause; message is what clients see, cause is only logged.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// Fields returns an Invalid error listing every invalid field.
func Fields(fields []FieldError) *Error {
	return &Error{Code: Invalid, Type: TypeValidation, Message: "the request has invalid fields", Fields: fields}
}

// ProblemType is the type clients see for e: its Type, or else its Code's default type.
func (e *Error) ProblemType() Type {
	if !e.Type.IsZero() {
		return e.Type
	}
	return DefaultType(e.Code)
}

// As returns err as a *Error, or nil when err is not one.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns err's code: Internal for anything unclassified.
func CodeOf(err error) Code {
	if e := As(err); e != nil {
		return e.Code
	}
	return Internal
}
