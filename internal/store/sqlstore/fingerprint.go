package sqlstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/plinth-dev/plinth/internal/spec"
)

// Fingerprint names the schema a spec asks of a database, the same for every kind of
// database: each resource's table, each field's column with its signature and whether it may
// hold null, and the indexes. Changes that no schema sees (access rules, webhooks,
// validation) leave it as it is. A planned file says the fingerprint it leads to.
func Fingerprint(model *spec.Model) string {
	var b strings.Builder
	resources := slices.Clone(model.Resources)
	slices.SortFunc(resources, func(a, b *spec.Resource) int { return strings.Compare(a.Name, b.Name) })
	for _, r := range resources {
		fmt.Fprintf(&b, "resource %s\n", r.Name)
		for _, f := range r.Fields {
			fmt.Fprintf(&b, "field %s %s nullable=%t\n", f.Name, f.Signature(), Nullable(f))
		}
		for _, ix := range r.Indexes {
			fmt.Fprintf(&b, "index %s\n", IndexName(r.Name, ix))
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}
