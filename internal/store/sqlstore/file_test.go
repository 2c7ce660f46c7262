package sqlstore

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// TestSplitStatements checks that a planned file's statements end at ";" only outside quoted
// text and comments, which a reviewer may add anywhere.
func TestSplitStatements(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"SELECT 1;\nSELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{"UPDATE t SET a = 'x;y' WHERE b = 'it''s;';", []string{"UPDATE t SET a = 'x;y' WHERE b = 'it''s;'"}},
		{`ALTER TABLE "a;b" ADD COLUMN "c""d;" TEXT;`, []string{`ALTER TABLE "a;b" ADD COLUMN "c""d;" TEXT`}},
		{"-- a comment; with a semicolon\nSELECT 1; -- after;\n/* block; */SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{"DO $body$ BEGIN PERFORM 1; END $body$;\nSELECT $$a;b$$;", []string{"DO $body$ BEGIN PERFORM 1; END $body$", "SELECT $$a;b$$"}},
		{"SELECT $1; SELECT 2", []string{"SELECT $1", "SELECT 2"}},
		{"  ;\n ; ", nil},
	} {
		got, err := splitStatements(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitStatements(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"SELECT 'open", `SELECT "open`, "/* open", "SELECT $x$ open"} {
		if _, err := splitStatements(bad); err == nil {
			t.Errorf("splitStatements(%q) took an unclosed quote", bad)
		}
	}
}

// TestRenderParse checks that a rendered migration parses back into the groups it was planned
// in, with its header, and that the file's checksum ignores line ends only.
func TestRenderParse(t *testing.T) {
	m := &Migration{Notes: []string{"a note"}, Steps: []Step{
		{SQL: "CREATE TABLE a (x TEXT)", Why: "first"},
		{SQL: "INSERT INTO a VALUES ('1;2')"},
		{SQL: "UPDATE a SET x = 'y' WHERE x IS NULL", Mode: Backfill, Table: `"a"`, Why: "fill"},
		{SQL: "DROP INDEX CONCURRENTLY IF EXISTS i;\nCREATE INDEX CONCURRENTLY i ON a (x)", Mode: Alone},
		{SQL: "SELECT 1"},
	}}
	src := m.Render(Header{Name: "0007_things", Driver: "postgres", Fingerprint: "abc", Spec: "plinth.yaml"})
	f, err := ParseFile("0007_things.sql", src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{
		{Mode: InTx, Statements: []string{"CREATE TABLE a (x TEXT)", "INSERT INTO a VALUES ('1;2')"}},
		{Mode: Backfill, Table: `"a"`, Statements: []string{"UPDATE a SET x = 'y' WHERE x IS NULL"}},
		{Mode: Alone, Statements: []string{"DROP INDEX CONCURRENTLY IF EXISTS i", "CREATE INDEX CONCURRENTLY i ON a (x)"}},
		{Mode: InTx, Statements: []string{"SELECT 1"}},
	}
	if f.Number != 7 || f.Driver != "postgres" || f.Fingerprint != "abc" || len(f.Groups) != len(want) {
		t.Fatalf("parsed %+v from:\n%s", f, src)
	}
	for i, g := range want {
		if f.Groups[i].Mode != g.Mode || f.Groups[i].Table != g.Table || !slices.Equal(f.Groups[i].Statements, g.Statements) {
			t.Errorf("group %d = %+v, want %+v", i, f.Groups[i], g)
		}
	}
	if Checksum(src) != Checksum([]byte(strings.ReplaceAll(string(src), "\n", "\r\n"))) || Checksum(src) == Checksum(append(src, ' ')) {
		t.Error("the checksum must ignore line ends, and only them")
	}
	for name, bad := range map[string]string{
		"7_x.sql":     "SELECT 1;\n-- plinth:transaction\nSELECT 1;\n-- plinth:driver sqlite\n",
		"8_x.sql":     "-- plinth:transaction\nSELECT 1;\n",
		"9_x.sql":     "-- plinth:driver sqlite\n-- plinth:backfill \"a\"\nSELECT 1;\n",
		"10_x.sql":    "-- plinth:driver sqlite\n-- plinth:later\n",
		"11_x.sql":    "-- plinth:driver sqlite\n",
		"Twelve.sql":  "-- plinth:driver sqlite\n-- plinth:transaction\nSELECT 1;\n",
		"13_X-Y.sql":  "",
		"14_open.sql": "-- plinth:driver sqlite\n-- plinth:transaction\nSELECT 'open;\n",
	} {
		if _, err := ParseFile(name, []byte(bad)); err == nil {
			t.Errorf("ParseFile(%s) took:\n%s", name, bad)
		}
	}
}

// TestLiteral checks the literals a planned file writes for the parameters drivers encode.
func TestLiteral(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want string
	}{
		{nil, "NULL"}, {"it's", "'it''s'"}, {`back\slash`, `'back\slash'`}, {int64(-3), "-3"},
		{2.5, "2.5"}, {3.0, "3.0"}, {1e300, "1e+300"}, {true, "TRUE"}, {false, "FALSE"},
		{time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("X", 3600)), "'2024-05-06T06:08:09.123456Z'"},
	} {
		if got, err := Literal(tt.in); err != nil || got != tt.want {
			t.Errorf("Literal(%v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), []byte("x"), struct{}{}} {
		if _, err := Literal(bad); err == nil {
			t.Errorf("Literal(%v) took it", bad)
		}
	}
}

// placeholders numbers parameters as PostgreSQL does.
var placeholders = &sqlwhere.Dialect{Placeholder: func(n int) string { return "$" + strconv.Itoa(n) }}

// TestRangeUpdate checks that a backfill's batch keeps its WHERE clause whole.
func TestRangeUpdate(t *testing.T) {
	got := rangeUpdate(`UPDATE "t" SET "a" = 1 WHERE "a" IS NULL OR "b" = 2`, &Dialect{Dialect: placeholders})
	want := `UPDATE "t" SET "a" = 1 WHERE ("a" IS NULL OR "b" = 2) AND "id" > $1 AND "id" <= $2`
	if got != want {
		t.Errorf("rangeUpdate = %s\nwant          %s", got, want)
	}
	if got := rangeUpdate(`UPDATE "t" SET "a" = 1`, &Dialect{Dialect: placeholders}); got != `UPDATE "t" SET "a" = 1 WHERE "id" > $1 AND "id" <= $2` {
		t.Errorf("rangeUpdate without WHERE = %s", got)
	}
}
