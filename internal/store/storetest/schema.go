package storetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// RunSchemaGolden checks the SQL that migrates a new database to each spec the spec package's
// golden tests read, and to the shop example: the statements of sqlstore.Plan with the
// driver's ddl, against testdata/<spec>.sql, which update rewrites. The SQL must be valid: a
// new database takes each spec, and opening it again with the same spec changes nothing.
// Paths are relative to a driver's package folder.
func RunSchemaGolden(t *testing.T, ddl *sqlstore.DDL, update bool, newDB NewDatabase) {
	specs, _ := filepath.Glob("../../spec/testdata/valid/*.yaml")
	specs = append(specs, "../../../examples/shop/plinth.yaml")
	for _, path := range specs {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		if name == "plinth" {
			name = "shop"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := sqlstore.Plan(compileSpec(t, string(src)), &sqlstore.Catalog{}, ddl, nil, sqlstore.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, s := range plan.Steps {
				b.WriteString(s.SQL + ";\n")
			}
			golden := filepath.Join("testdata", name+".sql")
			if update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(want) != b.String() {
				t.Errorf("%s differs; run go test -update and review.\ngot:\n%s", golden, b.String())
			}
			db := &migrationDB{t: t, ctx: context.Background(), db: newDB(t)}
			db.open(string(src), func(*fixture) {})
			wantChanges(t, "the same spec again", db.open(string(src), func(*fixture) {}))
		})
	}
}
