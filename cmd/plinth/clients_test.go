package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/plinth-dev/plinth/internal/openapi/clienttest/gen"
)

// TestGeneratedGoClient uses the Go client that oapi-codegen generated from the shop's golden
// document alone (internal/openapi/clienttest/gen) against a live shop server: an admin
// creates products, a customer places an order with an Idempotency-Key and its retry gets the
// same order back, a list is read page by page through its cursor, and a write with a stale
// If-Match is 412 with the problem the document names.
func TestGeneratedGoClient(t *testing.T) {
	srv := startServer(t, shopSpec, t.TempDir())
	ctx := context.Background()
	as := func(token string) *gen.ClientWithResponses {
		c, err := gen.NewClientWithResponses(srv.url, gen.WithHTTPClient(srv.client),
			gen.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
				req.Header.Set("Authorization", "Bearer "+token)
				return nil
			}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	admin, alice := as(srv.token("root", "admin")), as(srv.token("alice", "customer"))

	var created []uuid.UUID
	for _, p := range []gen.ProductsCreate{
		{Sku: "MUG-01", Name: "Mug", PriceCents: 1200, Stock: ptrTo[int64](10)},
		{Sku: "CUP-01", Name: "Cup", PriceCents: 800, Stock: ptrTo[int64](5)},
		{Sku: "TEA-01", Name: "Tea", PriceCents: 500},
	} {
		res, err := admin.ProductsCreateWithResponse(ctx, &gen.ProductsCreateParams{}, p)
		if err != nil || res.JSON201 == nil || res.JSON201.Id == nil || res.JSON201.Sku != p.Sku {
			t.Fatalf("create %s: %v, %d %s", p.Sku, err, res.StatusCode(), res.Body)
		}
		created = append(created, *res.JSON201.Id)
	}
	mug := created[0]

	// The generator types an order's items as an anonymous struct: grow the slice, then fill it.
	order := gen.OrdersCreate{Note: ptrTo("gift")}
	order.Items = slices.Grow(order.Items, 1)[:1]
	order.Items[0].ProductId, order.Items[0].Quantity = mug, 2
	key := uuid.NewString()
	first, err := alice.OrdersCreateWithResponse(ctx, &gen.OrdersCreateParams{IdempotencyKey: key}, order)
	if err != nil || first.JSON201 == nil || first.JSON201.Id == nil {
		t.Fatalf("create an order: %v, %d %s", err, first.StatusCode(), first.Body)
	}
	if first.JSON201.CustomerId != "alice" || first.JSON201.Items[0].Quantity != 2 {
		t.Errorf("the order reads back as %s", first.Body)
	}
	again, err := alice.OrdersCreateWithResponse(ctx, &gen.OrdersCreateParams{IdempotencyKey: key}, order)
	if err != nil || again.JSON201 == nil || *again.JSON201.Id != *first.JSON201.Id ||
		again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(first.Body) {
		t.Fatalf("the retry with the same key is not the first answer replayed: %v, %d %s", err, again.StatusCode(), again.Body)
	}
	orders, err := alice.OrdersListWithResponse(ctx, &gen.OrdersListParams{})
	if err != nil || orders.JSON200 == nil || len(orders.JSON200.Items) != 1 {
		t.Fatalf("the retry wrote a second order: %v, %s", err, orders.Body)
	}

	var listed []uuid.UUID
	params := &gen.ProductsListParams{Limit: ptrTo(2), Sort: &[]string{"name"}}
	for pages := 0; ; pages++ {
		if pages == len(created) {
			t.Fatalf("the cursor did not end after %d pages", pages)
		}
		page, err := admin.ProductsListWithResponse(ctx, params)
		if err != nil || page.JSON200 == nil {
			t.Fatalf("list products: %v, %d %s", err, page.StatusCode(), page.Body)
		}
		for _, p := range page.JSON200.Items {
			listed = append(listed, *p.Id)
		}
		if page.JSON200.NextCursor == nil {
			break
		}
		params.Cursor = page.JSON200.NextCursor
	}
	// By name: Cup, Mug, Tea.
	if want := []uuid.UUID{created[1], created[0], created[2]}; !slices.Equal(listed, want) {
		t.Errorf("the pages list %v, want %v", listed, want)
	}

	read, err := admin.ProductsReadWithResponse(ctx, mug, &gen.ProductsReadParams{})
	if err != nil || read.JSON200 == nil {
		t.Fatalf("read: %v, %s", err, read.Body)
	}
	etag := read.HTTPResponse.Header.Get("ETag")
	stale := `"7"`
	refused, err := admin.ProductsPatchWithResponse(ctx, mug, &gen.ProductsPatchParams{IfMatch: &stale}, gen.ProductsPatch{Stock: ptrTo[int64](20)})
	if err != nil || refused.StatusCode() != http.StatusPreconditionFailed || refused.ApplicationproblemJSON412 == nil ||
		refused.ApplicationproblemJSON412.Type != gen.UrnPlinthProblemStaleVersion || refused.ApplicationproblemJSON412.CurrentVersion == nil ||
		*refused.ApplicationproblemJSON412.CurrentVersion != *read.JSON200.Version {
		t.Fatalf("a stale If-Match: %v, %d %s", err, refused.StatusCode(), refused.Body)
	}
	changed, err := admin.ProductsPatchWithResponse(ctx, mug, &gen.ProductsPatchParams{IfMatch: &etag}, gen.ProductsPatch{Stock: ptrTo[int64](20)})
	if err != nil || changed.JSON200 == nil || changed.JSON200.Stock != 20 {
		t.Fatalf("a current If-Match: %v, %d %s", err, changed.StatusCode(), changed.Body)
	}
}

// tsClient is the TypeScript client's folder: openapi-typescript's types of the golden
// document and a program that uses them through openapi-fetch.
const tsClient = "../../clients/ts"

// TestTypeScriptClient compiles clients/ts (tsc, strict) and runs its program with node
// against a live shop server: the same products, idempotent order, paged list and stale
// If-Match as TestGeneratedGoClient, through openapi-fetch with openapi-typescript's types of
// the golden document. It fails, rather than skips, when the folder's packages are not
// installed (npm ci --prefix clients/ts, which .ci/run does).
func TestTypeScriptClient(t *testing.T) {
	tsc := filepath.Join(tsClient, "node_modules", ".bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		t.Fatalf("the TypeScript client's packages are not installed: run npm ci --prefix clients/ts (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = tsClient, append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The program is built into the folder's dist/ (ignored by git), where node finds the
	// folder's packages.
	run(nil, filepath.Join("node_modules", ".bin", "tsc"))
	srv := startServer(t, shopSpec, t.TempDir())
	out := run([]string{"PLINTH_URL=" + srv.url, "PLINTH_ADMIN_TOKEN=" + srv.token("root", "admin"), "PLINTH_CUSTOMER_TOKEN=" + srv.token("alice", "customer")},
		"node", filepath.Join("dist", "main.js"))
	if !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("the TypeScript client printed %q", out)
	}
}

func ptrTo[T any](v T) *T { return &v }
