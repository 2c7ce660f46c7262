// Package obsgen writes the operations artefacts of a spec: Prometheus recording and alerting
// rules for its service-level objectives and for the engine's own failure modes, promtool unit
// tests for every alert, and a Grafana dashboard. Every PromQL expression it writes selects
// metrics of the contract in Metrics (docs/operations.md explains each alert).
package obsgen
