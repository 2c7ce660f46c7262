package obsgen

import (
	"fmt"
	"strings"
)

// serviceAlert is an alert on the engine's own state, with the synthetic series its promtool
// test feeds it: firing makes it fire at evalTime, healthy keeps it silent.
type serviceAlert struct {
	name, severity, expr, forDuration string
	summary, description              string
	// Test data: series values at a 1m interval, the labels the alert carries besides
	// alertname and severity, and what $value renders as in the firing test.
	series          string
	firing, healthy string
	evalTime        string
	labels          map[string]string
	value           string
}

// serviceAlerts are the alerts every Plinth service gets, whatever its objectives.
func serviceAlerts(job string) []serviceAlert {
	j := fmt.Sprintf("job=%q", job)
	instance := map[string]string{"job": job, "instance": testInstance}
	return []serviceAlert{
		{
			name: "PlinthDown", severity: "page", forDuration: "2m",
			expr:        fmt.Sprintf("up{%s} == 0", j),
			summary:     "Plinth at {{ $labels.instance }} does not answer Prometheus",
			description: "Prometheus could not scrape {{ $labels.instance }} (job {{ $labels.job }}) for 2 minutes: the process is down, or its /metrics cannot be reached.",
			series:      fmt.Sprintf("up{%s,instance=%q}", j, testInstance), firing: "0x10", healthy: "1x10", evalTime: "10m", labels: instance,
		},
		{
			name: "PlinthNotReady", severity: "page", forDuration: "2m",
			expr:        fmt.Sprintf("plinth_ready{%s} == 0", j),
			summary:     "Plinth at {{ $labels.instance }} is not ready",
			description: "{{ $labels.instance }} has answered 503 at /readyz for 2 minutes: it cannot reach its database, or it is shutting down. Load balancers send it no traffic.",
			series:      fmt.Sprintf("plinth_ready{%s,instance=%q}", j, testInstance), firing: "0x10", healthy: "1x10", evalTime: "10m", labels: instance,
		},
		{
			name: "PlinthOutboxLagging", severity: "ticket", forDuration: "10m",
			expr:        fmt.Sprintf("max by (job, subscription) (plinth_subscription_lag_seconds{%s}) > 300", j),
			summary:     "Subscription {{ $labels.subscription }} is {{ $value | humanizeDuration }} behind the outbox",
			description: "The oldest event subscription {{ $labels.subscription }} has not taken was written {{ $value | humanizeDuration }} ago, and it has been over 5 minutes for 10 minutes: its consumer (webhook deliveries, change feed) is stuck or too slow.",
			series:      fmt.Sprintf("plinth_subscription_lag_seconds{%s,instance=%q,subscription=\"webhooks\"}", j, testInstance),
			firing:      "600x20", healthy: "2x20", evalTime: "15m", labels: map[string]string{"job": job, "subscription": "webhooks"}, value: "10m 0s",
		},
		{
			name: "PlinthWebhookDeadLetters", severity: "ticket",
			expr:        fmt.Sprintf("max by (job, webhook) (plinth_webhook_dead_letters{%s}) > 0", j),
			summary:     "Webhook {{ $labels.webhook }} has {{ $value }} dead letters",
			description: "{{ $value }} deliveries of webhook {{ $labels.webhook }} gave up after every retry and wait in its dead-letter list: the receiver will not see them until they are replayed.",
			series:      fmt.Sprintf("plinth_webhook_dead_letters{%s,instance=%q,webhook=\"orders-to-erp\"}", j, testInstance),
			firing:      "0 0 3x10", healthy: "0x12", evalTime: "10m", labels: map[string]string{"job": job, "webhook": "orders-to-erp"}, value: "3",
		},
		{
			name: "PlinthWebhookBreakerOpen", severity: "ticket", forDuration: "5m",
			expr:        fmt.Sprintf("max by (job, webhook) (plinth_webhook_breaker_open{%s}) == 1", j),
			summary:     "The circuit breaker of webhook {{ $labels.webhook }} is open",
			description: "Deliveries to webhook {{ $labels.webhook }} have failed often enough that Plinth stopped sending for 5 minutes and more; events wait in the outbox and are sent when the receiver answers again.",
			series:      fmt.Sprintf("plinth_webhook_breaker_open{%s,instance=%q,webhook=\"orders-to-erp\"}", j, testInstance),
			firing:      "1x10", healthy: "0x10", evalTime: "10m", labels: map[string]string{"job": job, "webhook": "orders-to-erp"},
		},
	}
}

// testInstance is the instance label of the synthetic series.
const testInstance = "127.0.0.1:8080"

func (a serviceAlert) rule(opts Options) rule {
	return rule{
		Alert: a.name, Expr: a.expr, For: a.forDuration,
		Labels: map[string]string{"severity": a.severity},
		Annotations: map[string]string{
			"summary":     a.summary,
			"description": a.description,
			"runbook_url": runbook(opts, a.name),
		},
	}
}

// render expands the annotation templates as Prometheus would for the firing test's alert.
func (a serviceAlert) render(text string) string {
	pairs := []string{"{{ $value | humanizeDuration }}", a.value, "{{ $value }}", a.value}
	for k, v := range a.labels {
		pairs = append(pairs, "{{ $labels."+k+" }}", v)
	}
	return strings.NewReplacer(pairs...).Replace(text)
}
