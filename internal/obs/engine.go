package obs

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
	if m != nil {
		m.operations.WithLabelValues(resource, operation, outcome).Inc()
	}
}

// EffectConflict counts a write refused by the guard of an effect.
func (m *Metrics) EffectConflict(effect string) {
	if m != nil {
		m.effectConflicts.WithLabelValues(effect).Inc()
	}
}
