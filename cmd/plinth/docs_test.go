package main

import (
	"context"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/getkin/kin-openapi/openapi3"
)

// chromium is Debian's browser, which .ci/run installs.
const chromium = "/usr/bin/chromium"

// TestDocsPageInBrowser loads /docs of a live shop server in headless Chromium: every
// operation of the document the server serves is on the rendered page with its method and
// path, the filter box narrows the page to what matches, and the browser asked for nothing
// but the page's own server. It fails, rather than skips, without Chromium.
func TestDocsPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("this test needs Chromium at %s (apt-get install chromium): %v", chromium, err)
	}
	srv := startServer(t, shopSpec, t.TempDir())
	doc, err := openapi3.NewLoader().LoadFromData(srv.fetch("/openapi.json", "application/json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // operationId → "METHOD path"
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			want[op.OperationID] = method + " " + path
		}
	}

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var requested []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("chromium: %v", err)
	}

	// Each operation section as the browser renders it: its id and its heading's text.
	type section struct{ ID, Heading string }
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.url+"/docs"), chromedp.WaitReady(chromedp.ID("schemas"))); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]section](
		`Array.from(document.querySelectorAll("section.op")).map(s => ({ID: s.dataset.op, Heading: s.querySelector("h3").innerText}))`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("search"), "orders.create")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	visibleAfterFilter, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("section.op")).filter(s => s.offsetParent !== null).map(s => s.dataset.op)`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}

	onPage := map[string]string{}
	for _, s := range shown {
		onPage[s.ID] = strings.Join(strings.Fields(s.Heading), " ")
	}
	for id, route := range want {
		switch heading, ok := onPage[id]; {
		case !ok:
			t.Errorf("%s (%s) is not on the page", id, route)
		case heading != route:
			t.Errorf("%s is headed %q on the page, want %q", id, heading, route)
		}
	}
	if len(shown) != len(want) {
		t.Errorf("the page shows %d operations, the document has %d", len(shown), len(want))
	}
	// The filter keeps the operations whose text holds the query, and hides the others.
	if !slices.Contains(visibleAfterFilter, "orders.create") || slices.Contains(visibleAfterFilter, "products.list") {
		t.Errorf("filtering for orders.create left %v visible", visibleAfterFilter)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(requested) == 0 {
		t.Fatal("the browser recorded no request at all, not even the page's")
	}
	for _, raw := range requested {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() != "127.0.0.1" {
			t.Errorf("the browser asked for %s, off 127.0.0.1", raw)
		}
	}
}
