package obs

import "github.com/prometheus/client_golang/prometheus"

// The outcomes of engine operations (plinth_engine_operations_total's outcome label).
const (
	OutcomeOK                 = "ok"
	OutcomeInvalid            = "invalid"
	OutcomeForbidden          = "forbidden"
	OutcomeNotFound           = "not_found"
	OutcomeConflict           = "conflict"
	OutcomePreconditionFailed = "precondition_failed"
	OutcomeReplayed           = "replayed"
	OutcomeInFlight           = "in_flight"
	OutcomeUnavailable        = "unavailable"
	OutcomeError              = "error"
)

// Operation counts one engine operation of a caller: resource, operation (list, get, create,
// update, replace, delete or batch) and one of the Outcome constants.
func (m *Metrics) Operation(resource, operation, outcome string) {
	if m == nil {
		return
	}
	k := opKey{resource, operation, outcome}
	c, ok := m.opCounters.Load(k)
	if !ok {
		c, _ = m.opCounters.LoadOrStore(k, m.operations.WithLabelValues(resource, operation, outcome))
	}
	c.(prometheus.Counter).Inc()
}

// opKey is the labels of an operations child. Their values come from the model and the
// engine's fixed sets, so the children are few.
type opKey struct{ resource, operation, outcome string }

// EffectConflict counts a write refused by the guard of an effect.
func (m *Metrics) EffectConflict(effect string) {
	if m != nil {
		m.effectConflicts.WithLabelValues(effect).Inc()
	}
}
