package slo

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	objectiveDesc = prometheus.NewDesc("plinth_slo_objective_ratio",
		"The share of requests an objective of the spec wants good, e.g. 0.999.", []string{"slo"}, nil)
	burnDesc = prometheus.NewDesc("plinth_slo_burn_rate",
		"How fast the objective's error budget is being spent over the window: 1 spends it exactly over the objective's window.",
		[]string{"slo", "window"}, nil)
	budgetDesc = prometheus.NewDesc("plinth_slo_error_budget_remaining_ratio",
		"The share of the error budget left over the objective's window: 1 untouched, 0 spent, negative when overspent.",
		[]string{"slo"}, nil)
	alertDesc = prometheus.NewDesc("plinth_slo_alert",
		"1 when the multi-window burn-rate alert of the severity fires for the objective, 0 otherwise.",
		[]string{"slo", "severity"}, nil)
)

// Register adds the evaluator's metrics to reg: plinth_slo_objective_ratio,
// plinth_slo_burn_rate, plinth_slo_error_budget_remaining_ratio and plinth_slo_alert,
// evaluated at each scrape. It fails when reg already has them.
func (e *Evaluator) Register(reg prometheus.Registerer) error {
	return reg.Register(collector{e})
}

// collector evaluates the objectives when scraped.
type collector struct{ e *Evaluator }

var _ prometheus.Collector = collector{}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- objectiveDesc
	ch <- burnDesc
	ch <- budgetDesc
	ch <- alertDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.e.Reports() {
		name := r.SLO.Name
		ch <- prometheus.MustNewConstMetric(objectiveDesc, prometheus.GaugeValue, r.SLO.Objective, name)
		for i, w := range Windows {
			ch <- prometheus.MustNewConstMetric(burnDesc, prometheus.GaugeValue, r.Burn[i], name, w.Name)
		}
		ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, r.BudgetRemaining, name)
		ch <- prometheus.MustNewConstMetric(alertDesc, prometheus.GaugeValue, gauge(r.Page), name, "page")
		ch <- prometheus.MustNewConstMetric(alertDesc, prometheus.GaugeValue, gauge(r.Ticket), name, "ticket")
	}
}

func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
