// Package micro holds Go micro-benchmarks of Plinth's hot paths, driven through the public
// embedding API (plinth.New and App.Handler) with net/http/httptest, so that they measure
// what a request costs without a network or a load generator:
//
//	go test -run '^$' -bench . -benchmem ./bench/micro
//
// The package has no code of its own; see handler_test.go.
package micro
