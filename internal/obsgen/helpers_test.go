package obsgen_test

import (
	"os"
	"testing"

	"github.com/plinth-dev/plinth/internal/spec"
)

const shopSpec = "../../examples/shop/plinth.yaml"

func compileShop(t *testing.T) *spec.Model {
	t.Helper()
	src, err := os.ReadFile(shopSpec)
	if err != nil {
		t.Fatal(err)
	}
	m, diags := spec.Compile(shopSpec, src)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return m
}
