// Package gen is a Go client of the shop's API that oapi-codegen generated from the shop's
// golden OpenAPI document alone (internal/openapi/testdata/shop.openapi.json), so that a test
// can show a generator nobody here wrote produces a client that works against the live
// server (cmd/plinth's TestGeneratedGoClient). Nothing in Plinth imports it but that test.
// The generated file is committed; `go generate ./internal/openapi/clienttest/gen` rewrites
// it, and .ci/run fails when that changes a byte.
package gen

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../../testdata/shop.openapi.json
