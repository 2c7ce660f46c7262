package obsgen

import (
	"fmt"
	"math"
	"strings"
)

// The promtool unit test file (promtool test rules).
type testFile struct {
	RuleFiles          []string    `yaml:"rule_files"`
	EvaluationInterval string      `yaml:"evaluation_interval"`
	Tests              []testGroup `yaml:"tests"`
}

type testGroup struct {
	Interval       string      `yaml:"interval"`
	InputSeries    []series    `yaml:"input_series"`
	AlertRuleTests []alertTest `yaml:"alert_rule_test,omitempty"`
	ExprTests      []exprTest  `yaml:"promql_expr_test,omitempty"`
}

type series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []expAlert `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

type exprTest struct {
	Expr       string      `yaml:"expr"`
	EvalTime   string      `yaml:"eval_time"`
	ExpSamples []expSample `yaml:"exp_samples"`
}

type expSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

// requestsPerMinute is the synthetic traffic of an objective's tests: large, so that a bad
// share of a tight objective is still a whole number of requests.
const requestsPerMinute = 1000000

// RuleTests returns the promtool unit tests of the file Rules writes (named rulesFile, beside
// the tests): each alert fires on synthetic series that break it and stays silent on healthy
// ones, and each objective's recorded error ratio is the synthetic traffic's.
func RuleTests(objectives []Objective, opts Options, rulesFile string) ([]byte, error) {
	if err := validate(objectives); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	f := testFile{RuleFiles: []string{rulesFile}, EvaluationInterval: "1m"}
	for _, o := range objectives {
		f.Tests = append(f.Tests, sloTests(o, opts)...)
	}
	for _, a := range serviceAlerts(opts.Job) {
		exp := expAlert{ExpLabels: map[string]string{"severity": a.severity}, ExpAnnotations: map[string]string{
			"summary": a.render(a.summary), "description": a.render(a.description), "runbook_url": runbook(opts, a.name),
		}}
		for k, v := range a.labels {
			exp.ExpLabels[k] = v
		}
		f.Tests = append(f.Tests,
			testGroup{Interval: "1m", InputSeries: []series{{a.series, a.firing}},
				AlertRuleTests: []alertTest{{EvalTime: a.evalTime, Alertname: a.name, ExpAlerts: []expAlert{exp}}}},
			testGroup{Interval: "1m", InputSeries: []series{{a.series, a.healthy}},
				AlertRuleTests: []alertTest{{EvalTime: a.evalTime, Alertname: a.name, ExpAlerts: []expAlert{}}}})
	}
	return marshal(f)
}

// sloTests are, per burn-rate alert of o, a test where the traffic burns the budget at a rate
// that fires it (20 times for the fast burn, 2 for the slow one) and one where all is good.
// An objective so loose that even all requests failing cannot burn its budget fast enough
// has no firing test for that alert.
func sloTests(o Objective, opts Options) []testGroup {
	var groups []testGroup
	budget := 1 - o.Objective
	for _, a := range burnAlerts {
		// An hour of steady traffic: a window longer than the series sees the same ratio.
		burn, evalTime, minutes := 20.0, "65m", 70
		if a.severity == "ticket" {
			burn = 2
		}
		bad := math.Min(requestsPerMinute, math.Round(burn*budget*requestsPerMinute))
		silent := testGroup{Interval: "1m", InputSeries: sloSeries(o, opts.Job, 0, minutes),
			AlertRuleTests: []alertTest{{EvalTime: evalTime, Alertname: a.name, ExpAlerts: []expAlert{}}}}
		if bad/requestsPerMinute <= a.pairs[len(a.pairs)-1].factor*budget {
			groups = append(groups, silent)
			continue
		}
		exp := expAlert{
			ExpLabels: map[string]string{"job": opts.Job, "slo": o.Name, "severity": a.severity},
			ExpAnnotations: map[string]string{
				"summary": "SLO " + o.Name + " " + a.summary, "description": burnDescription(o, a), "runbook_url": runbook(opts, a.name),
			},
		}
		firing := testGroup{Interval: "1m", InputSeries: sloSeries(o, opts.Job, bad, minutes),
			AlertRuleTests: []alertTest{{EvalTime: evalTime, Alertname: a.name, ExpAlerts: []expAlert{exp}}},
			// The recorded ratio, in bad requests a minute: rounded, since 1 - good/total is
			// not exact in floating point.
			ExprTests: []exprTest{{
				Expr: fmt.Sprintf("round(%s%s{slo=%q} * %d)", errorRatioRecord, Windows[0], o.Name, requestsPerMinute), EvalTime: evalTime,
				ExpSamples: []expSample{{Labels: fmt.Sprintf("{job=%q,slo=%q}", opts.Job, o.Name), Value: bad}},
			}}}
		groups = append(groups, firing, silent)
	}
	return groups
}

// sloSeries is traffic on o's first route for minutes minutes, bad of requestsPerMinute
// requests a minute bad: 5xx answers, or answers slower than the latency threshold.
func sloSeries(o Objective, job string, bad float64, minutes int) []series {
	route := o.Routes[0]
	method, _, _ := strings.Cut(route, " ")
	labels := fmt.Sprintf("job=%q,instance=%q,route=%q,method=%q", job, testInstance, route, method)
	counter := func(perMinute float64) string { return fmt.Sprintf("0+%sx%d", formatFloat(perMinute), minutes) }
	if o.Latency > 0 {
		return []series{
			{fmt.Sprintf("plinth_http_request_duration_seconds_bucket{%s,status_class=\"2xx\",le=%q}", labels, formatFloat(o.Latency.Seconds())), counter(requestsPerMinute - bad)},
			{fmt.Sprintf("plinth_http_request_duration_seconds_bucket{%s,status_class=\"2xx\",le=\"+Inf\"}", labels), counter(requestsPerMinute)},
			{fmt.Sprintf("plinth_http_request_duration_seconds_count{%s,status_class=\"2xx\"}", labels), counter(requestsPerMinute)},
		}
	}
	return []series{
		{fmt.Sprintf("plinth_http_requests_total{%s,status_class=\"2xx\"}", labels), counter(requestsPerMinute - bad)},
		{fmt.Sprintf("plinth_http_requests_total{%s,status_class=\"5xx\"}", labels), counter(bad)},
	}
}
