package httpapi

import (
	"net/http"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/slo"
)

// objectives serves GET /vN/_slo to role admin: every objective of the spec with its status,
// burn rates, requests and remaining error budget, evaluated now.
func (s *Server) objectives(w http.ResponseWriter, r *http.Request) {
	if err := engine.RequireAdmin(r.Context(), "read the service level objectives"); err != nil {
		s.writeError(w, r, err)
		return
	}
	type item struct {
		Name            string             `json:"name"`
		Selector        map[string]string  `json:"selector"`
		Routes          []string           `json:"routes"`
		Objective       float64            `json:"objective"`
		Latency         *string            `json:"latency"`
		Window          string             `json:"window"`
		Status          slo.Status         `json:"status"`
		BurnRates       map[string]float64 `json:"burn_rates"`
		Good            int64              `json:"good"`
		Total           int64              `json:"total"`
		BudgetRemaining float64            `json:"error_budget_remaining"`
	}
	reports := s.slo.Reports()
	items := make([]item, len(reports))
	for i, rep := range reports {
		o := rep.SLO
		items[i] = item{Name: o.Name, Selector: map[string]string{o.SelectorKey: o.Selector}, Routes: o.Routes,
			Objective: o.Objective, Window: o.WindowText(), Status: rep.Status(), BurnRates: map[string]float64{},
			Good: rep.Good, Total: rep.Total, BudgetRemaining: rep.BudgetRemaining}
		if o.Latency > 0 {
			l := o.Latency.String()
			items[i].Latency = &l
		}
		for j, win := range slo.Windows {
			items[i].BurnRates[win.Name] = rep.Burn[j]
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, marshal(map[string]any{"items": items}))
}
