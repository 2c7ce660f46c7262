package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/store/sqlite"
)

// migrateSpec is the spec the migration tests start from; retypedSpec turns its count into a
// string, which a plan allowing data loss converts with a backfill.
const (
	migrateSpec = `plinth: 1
name: migrate
resources:
  things:
    fields:
      title: {type: string, max_length: 50}
      count: {type: integer}
    access: {list: "true", read: "true"}
`
	rows = 20000
)

var retypedSpec = strings.Replace(migrateSpec, "count: {type: integer}", "count: {type: string, max_length: 20}", 1)

// migrateTarget is a spec in a folder of its own (where its migrations go) and the database
// a test migrates: SQLite in a data folder, or a PostgreSQL schema of its own.
type migrateTarget struct {
	t     *testing.T
	db    database
	spec  string
	flags []string // the database flags of every command
	raw   *sql.DB  // the database behind Plinth's back
}

func newMigrateTarget(t *testing.T, db database) *migrateTarget {
	mt := &migrateTarget{t: t, db: db, spec: filepath.Join(t.TempDir(), "plinth.yaml")}
	if db.url == "" {
		data := t.TempDir()
		mt.flags = []string{"--data", data}
		mt.raw = openSQL(t, "sqlite", "file:"+filepath.Join(data, sqlite.FileName)+"?_pragma=busy_timeout(10000)")
		return mt
	}
	schema := db.newSchema(t)
	mt.flags = []string{"--database", db.url, "--database-schema", schema}
	u, err := url.Parse(db.url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	mt.raw = openSQL(t, "pgx", u.String())
	return mt
}

func openSQL(t *testing.T, driver, dsn string) *sql.DB {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// write writes src as the spec.
func (mt *migrateTarget) write(src string) {
	mt.t.Helper()
	if err := os.WriteFile(mt.spec, []byte(src), 0o644); err != nil {
		mt.t.Fatal(err)
	}
}

// run runs a plinth command in this process on the target and returns its exit code and
// output.
func (mt *migrateTarget) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	args = append(append(args, "--spec", mt.spec), mt.flags...)
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// ok runs a plinth command that must succeed, and returns its standard output.
func (mt *migrateTarget) ok(args ...string) string {
	mt.t.Helper()
	code, out, errs := mt.run(args...)
	if code != 0 {
		mt.t.Fatalf("plinth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// count runs a query of one count behind Plinth's back.
func (mt *migrateTarget) count(q string) int64 {
	mt.t.Helper()
	var n int64
	if err := mt.raw.QueryRow(q).Scan(&n); err != nil {
		mt.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// seed stores rows things, r000001 to r0NNNNN, with count the number, behind Plinth's back.
func (mt *migrateTarget) seed() {
	mt.t.Helper()
	q := fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO "things" ("id", "created_at", "updated_at", "version", "count")
		SELECT printf('r%%06d', i), '2024-01-01T00:00:00.000000Z', '2024-01-01T00:00:00.000000Z', 1, i FROM n`, rows)
	if mt.db.url != "" {
		q = fmt.Sprintf(`INSERT INTO "things" ("id", "created_at", "updated_at", "version", "count")
			SELECT 'r' || lpad(i::text, 6, '0'), now(), now(), 1, i FROM generate_series(1, %d) AS i`, rows)
	}
	if _, err := mt.raw.Exec(q); err != nil {
		mt.t.Fatal(err)
	}
}

// converted checks that the retype kept every row, each once, with its value converted.
func (mt *migrateTarget) converted() {
	mt.t.Helper()
	if n := mt.count(`SELECT count(DISTINCT "id") FROM "things"`); n != rows {
		mt.t.Errorf("%d records after the retype, want %d", n, rows)
	}
	if n := mt.count(`SELECT count(*) FROM "things"`); n != rows {
		mt.t.Errorf("%d rows after the retype, want %d", n, rows)
	}
	if n := mt.count(`SELECT count(*) FROM "things" WHERE "count" IS NULL OR "count" <> CAST("_old_count_0002" AS TEXT)`); n != 0 {
		mt.t.Errorf("%d records lost their value in the retype", n)
	}
}

// TestMigrateKilledMidBackfill applies a retype whose backfill walks 20,000 rows in batches of
// 10, in a real `plinth migrate apply` process: once it has committed some batches, the test
// holds the database's write lock (so that the process stops mid-backfill, wherever it is),
// checks the backfill is partly done, and kills the process with SIGKILL. Run again, apply
// goes on and completes, with every row converted once and none lost.
func TestMigrateKilledMidBackfill(t *testing.T) { eachDatabase(t, testMigrateKilledMidBackfill) }

func testMigrateKilledMidBackfill(t *testing.T, db database) {
	bin := buildBinary(t)
	mt := newMigrateTarget(t, db)
	mt.write(migrateSpec)
	mt.ok("migrate", "plan")
	mt.ok("migrate", "apply")
	mt.seed()
	mt.write(retypedSpec)
	if out := mt.ok("migrate", "plan", "--allow-data-loss"); !strings.Contains(out, "0002_retype_things_count.sql") {
		t.Fatalf("plan: %s", out)
	}

	cmd := exec.Command(bin, append([]string{"migrate", "apply", "--batch-size", "10", "--spec", mt.spec}, mt.flags...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		// The progress bar redraws on one line: each redraw ends in \r.
		sc := bufio.NewScanner(stderr)
		sc.Split(splitRedraws)
		re := regexp.MustCompile(`\((\d+)/(\d+)`)
		once := sync.Once{}
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && m[1] != "0" && m[1] != m[2] {
				// Freeze it at once, from here: on a loaded machine the test's goroutine may
				// wake too late to find the backfill unfinished.
				once.Do(func() {
					cmd.Process.Signal(syscall.SIGSTOP)
					close(started)
				})
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case <-started:
	case err := <-exited:
		t.Fatalf("apply exited before its backfill showed progress: %v", err)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the backfill showed no progress")
	}

	// The process, stopped (SIGSTOP) mid-backfill, is killed where it stands. What it had
	// committed stays; a COMMIT it had sent may still land (PostgreSQL finishes it without the
	// client), so the rows are counted once the next command has run.
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, by its PID
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("apply ended with %v, want killed", err)
	}

	status := mt.ok("migrate", "status")
	if !regexp.MustCompile(`partial\s+0002_retype_things_count\s+1/`).MatchString(status) {
		t.Errorf("status after the kill:\n%s", status)
	}
	if done := mt.count(`SELECT count(*) FROM "things" WHERE "_new_count" IS NOT NULL`); done == 0 || done >= rows {
		t.Fatalf("%d of %d rows backfilled when the process was killed, want some", done, rows)
	}
	if code, _, errs := mt.run("serve", "--addr", "127.0.0.1:0"); code != 1 || !strings.Contains(errs, "0002_retype_things_count was interrupted after 1 of its") {
		t.Errorf("serve during the interrupted migration: exit %d\n%s", code, errs)
	}

	out := mt.ok("migrate", "apply", "--batch-size", "500")
	if !strings.Contains(out, "applied 0002_retype_things_count") {
		t.Errorf("the second apply: %s", out)
	}
	mt.converted()
	if status := mt.ok("migrate", "status"); !strings.Contains(status, "the database is at the spec") {
		t.Errorf("status after the second apply:\n%s", status)
	}
}

// splitRedraws splits a progress bar's output at each \r or \n.
func splitRedraws(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// TestMigrateApplyTwiceAtOnce starts two `plinth migrate apply` processes at once on one
// database, with a retype's backfill and a new resource to apply: both succeed, every file
// is applied once, and the values are right.
func TestMigrateApplyTwiceAtOnce(t *testing.T) { eachDatabase(t, testMigrateApplyTwiceAtOnce) }

func testMigrateApplyTwiceAtOnce(t *testing.T, db database) {
	bin := buildBinary(t)
	mt := newMigrateTarget(t, db)
	// The files are planned on a database of their own, as a team plans on a copy, and
	// applied together on the target.
	planner := newMigrateTarget(t, db)
	planner.spec = mt.spec
	mt.write(migrateSpec)
	planner.ok("migrate", "plan")
	mt.ok("migrate", "apply")
	mt.seed()
	planner.ok("migrate", "apply")
	planner.write(retypedSpec)
	planner.ok("migrate", "plan", "--allow-data-loss")
	planner.ok("migrate", "apply")
	planner.write(retypedSpec + "  more:\n    fields:\n      x: {type: string, max_length: 5}\n")
	planner.ok("migrate", "plan")

	procs := make([]*exec.Cmd, 2)
	outs := make([]*bytes.Buffer, len(procs))
	for i := range procs {
		outs[i] = &bytes.Buffer{}
		procs[i] = exec.Command(bin, append([]string{"migrate", "apply", "--batch-size", "100", "--spec", mt.spec}, mt.flags...)...)
		procs[i].Stdout, procs[i].Stderr = outs[i], outs[i]
	}
	for _, p := range procs {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if p.ProcessState == nil {
				p.Process.Kill()
			}
		})
	}
	applied := map[string]int{}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("apply %d: %v\n%s", i, err, outs[i])
		}
		for _, m := range regexp.MustCompile(`(?m)^applied (\S+)$`).FindAllStringSubmatch(outs[i].String(), -1) {
			applied[m[1]]++
		}
	}
	for _, name := range []string{"0002_retype_things_count", "0003_create_more"} {
		if applied[name] == 0 {
			t.Errorf("no process applied %s: %v", name, applied)
		}
	}
	if n := mt.count(`SELECT count(*) FROM "_plinth_migrations" WHERE "applied_at" IS NOT NULL`); n != 3 {
		t.Errorf("%d migrations recorded as applied, want 3", n)
	}
	mt.converted()
	if err := mt.serves(plinth.AutoMigrateDefault); err != nil {
		t.Fatalf("serve after both applies: %v", err)
	}
}

// serves opens a server of the target's spec and database, and closes it.
func (mt *migrateTarget) serves(auto plinth.AutoMigrate) error {
	s := &server{SpecFile: mt.spec, Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), AutoMigrate: auto}
	if mt.db.url == "" {
		s.DataDir = mt.flags[1]
	} else {
		s.DataDir, s.Database, s.DatabaseSchema = mt.t.TempDir(), mt.flags[1], mt.flags[3]
	}
	if err := s.Open(context.Background()); err != nil {
		return err
	}
	s.ln.Close()
	return s.app.Close()
}

// TestServeRefusesUnplannedChanges checks what serve does beside planned migrations: it
// refuses to start while a file is not applied, and once the spec has files it takes no change
// itself unless told to (--auto-migrate); a rename needs a plan even then, and a retype a plan
// allowing data loss. Each refusal prints the command that resolves it, with the database
// flags the user gave.
func TestServeRefusesUnplannedChanges(t *testing.T) {
	eachDatabase(t, testServeRefusesUnplannedChanges)
}

func testServeRefusesUnplannedChanges(t *testing.T, db database) {
	mt := newMigrateTarget(t, db)
	flags := mt.flags[0] + " " + shellQuote(mt.flags[1])
	if len(mt.flags) > 2 {
		flags += " " + mt.flags[2] + " " + mt.flags[3]
	}
	command := func(sub string) string { return "plinth " + sub + " --spec " + mt.spec + " " + flags }
	serve := func(want string, extra ...string) {
		t.Helper()
		code, out, errs := mt.run(append([]string{"serve", "--addr", "127.0.0.1:0"}, extra...)...)
		if code != 1 || !strings.Contains(errs, want) {
			t.Errorf("serve %v: exit %d, want 1 and %q\n%s%s", extra, code, want, out, errs)
		}
	}
	mt.write(migrateSpec)
	mt.ok("migrate", "plan")
	serve("the database is behind its planned migrations:\n  - 0001_create_things is not applied\napply them; nothing was changed\nrun: " + command("migrate apply"))
	mt.ok("migrate", "apply")

	mt.write(withNote(migrateSpec))
	serve("  - added column resource=things field=note\n  - this database takes planned migrations only (auto-migrate is off)\n" +
		"plan them, review the file, and apply it; nothing was changed\nrun: " + command("migrate plan") +
		"\nreview the file it writes, then: " + command("migrate apply"))
	if err := mt.serves(plinth.AutoMigrateOn); err != nil {
		t.Fatalf("serve --auto-migrate: %v", err)
	}

	mt.write(withNote(strings.Replace(migrateSpec, "title: {type: string", "name: {type: string, renamed_from: title", 1)))
	serve("  - renamed column resource=things field=name from=title\n", "--auto-migrate")
	mt.write(withNote(retypedSpec))
	serve("things.count holds integer values but the spec now says string (retyping a field is not automatic)\n" +
		"change the spec, or plan these changes allowing data loss; nothing was changed\n" +
		"to plan them as expand/contract steps, run: " + command("migrate plan") + " --allow-data-loss")
}

// withNote adds an optional field to things.
func withNote(src string) string {
	return strings.Replace(src, "    access:", "      note: {type: string, max_length: 5}\n    access:", 1)
}

// TestMigrateHints checks the commands that refusals print: flags only where they differ from
// the defaults, a URL without its password, and quotes where a shell needs them.
func TestMigrateHints(t *testing.T) {
	t.Setenv("PLINTH_DATABASE", "postgres://app:secret@db/prod")
	for _, tt := range []struct {
		target target
		want   string
	}{
		{target{spec: "plinth.yaml", data: plinth.DefaultDataDir}, "plinth migrate apply --spec plinth.yaml"},
		{target{spec: "my spec.yaml", data: "/srv/data"}, "plinth migrate apply --spec 'my spec.yaml' --data /srv/data"},
		{target{spec: "s.yaml", database: "postgres://app:secret@db/prod", schema: "public"}, "plinth migrate apply --spec s.yaml"},
		{target{spec: "s.yaml", database: "postgres://app:secret@db/stage?sslmode=require", schema: "shop"},
			"plinth migrate apply --spec s.yaml --database 'postgres://app:xxxxx@db/stage?sslmode=require' --database-schema shop"},
	} {
		if got := tt.target.command("migrate apply"); got != tt.want {
			t.Errorf("command = %s\nwant      %s", got, tt.want)
		}
	}
	if got := strconv.Quote(shellQuote("it's")); got != strconv.Quote(`'it'\''s'`) {
		t.Errorf("shellQuote(it's) = %s", got)
	}
}
