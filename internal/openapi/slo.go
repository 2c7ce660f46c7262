package openapi

import (
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/slo"
)

// objectives adds GET /vN/_slo, the evaluation of the spec's objectives, for role admin. Its
// schema does not depend on the objectives the spec declares: they are not part of the
// contract.
func (b *builder) objectives() {
	path := b.prefix + "/_slo"
	number := func(description string) *openapi3.SchemaRef {
		return prop(&openapi3.Schema{Type: types("number"), Description: description})
	}
	count := func(description string) *openapi3.SchemaRef {
		return prop(&openapi3.Schema{Type: types("integer"), Min: ptr(0.0), Description: description})
	}
	burns := openapi3.Schemas{}
	var windows []string
	sample := map[string]any{}
	for _, w := range slo.Windows {
		burns[w.Name] = prop(&openapi3.Schema{Type: types("number"), Min: ptr(0.0)})
		windows = append(windows, w.Name)
		sample[w.Name] = 0.5
	}
	example := map[string]any{"items": []any{map[string]any{"name": "order-create-availability",
		"selector": map[string]any{"operation": "orders.create"}, "routes": []any{"POST " + b.prefix + "/orders"},
		"objective": 0.999, "latency": nil, "window": "28d", "status": string(slo.OK), "burn_rates": sample,
		"good": 19990, "total": 20000, "error_budget_remaining": 0.5}}}
	b.component("SLOStatus", object("Every objective of the spec's `slos:`, evaluated when asked, over the requests this process served.", openapi3.Schemas{
		"items": prop(&openapi3.Schema{Type: types("array"), Items: prop(object("", openapi3.Schemas{
			"name": prop(&openapi3.Schema{Type: types("string"), Description: "The objective's name in the spec."}),
			"selector": prop(&openapi3.Schema{Type: types("object"), Description: "How the spec names its requests: one of operation, resource or route.",
				AdditionalProperties: openapi3.AdditionalProperties{Schema: prop(&openapi3.Schema{Type: types("string")})}}),
			"routes":    prop(&openapi3.Schema{Type: types("array"), Items: prop(&openapi3.Schema{Type: types("string")}), Description: "The routes it covers, as METHOD /path."}),
			"objective": prop(&openapi3.Schema{Type: types("number"), Min: ptr(0.0), Max: ptr(1.0), Description: "The share of requests that must be good, e.g. 0.999."}),
			"latency":   prop(&openapi3.Schema{Type: types("string", "null"), Description: "A latency objective's threshold, such as 200ms; null for an availability objective."}),
			"window":    prop(&openapi3.Schema{Type: types("string"), Description: "The span the error budget is counted over, such as 28d."}),
			"status": prop(&openapi3.Schema{Type: types("string"), Enum: []any{string(slo.OK), string(slo.Ticket), string(slo.Page)},
				Description: "The multi-window burn-rate alert that fires: page, ticket, or ok when none does."}),
			"burn_rates":             prop(object("The burn rate over each window: the share of bad requests over what the objective allows.", burns, windows...)),
			"good":                   count("Good requests over the window."),
			"total":                  count("Requests over the window."),
			"error_budget_remaining": number("The share of the window's error budget left: 1 untouched, 0 spent, negative when overspent."),
		}, "name", "selector", "routes", "objective", "latency", "window", "status", "burn_rates", "good", "total", "error_budget_remaining"))}),
	}, "items"))
	b.doc.Components.Schemas["SLOStatus"].Value.Examples = []any{example}
	op := &openapi3.Operation{Tags: []string{"SLOs"}, OperationID: "slos.status", Summary: "Show the service level objectives",
		Description: "Evaluates every objective of the spec now: status, burn rates, requests and error budget. Role admin only.",
		Security:    adminSecurity(), Parameters: openapi3.Parameters{b.param("X-Request-Id")}, Responses: openapi3.NewResponses()}
	op.Responses.Set("200", b.okResponse("The objectives.", b.ref("SLOStatus"), example))
	p := problems{instance: path}
	p.add(fault.TypeForbidden)
	b.problemResponses(op.Responses, p)
	b.add(path, http.MethodGet, op)
}
