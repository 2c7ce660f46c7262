package sqlstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// File is a planned migration: a numbered SQL file, for one kind of database, that a team
// reviews and then applies. Its groups run in order, and each is recorded as done when it
// has run, so that an interrupted file goes on where it stopped.
type File struct {
	Name        string // the file's name without ".sql": "0003_add_orders_note"
	Number      int
	Driver      string // the kind of database it is written for
	Fingerprint string // the schema fingerprint of the spec it leads to
	Checksum    string // of its text, which must not change once it is applied
	Groups      []Group
}

// Group is what runs as one: the statements of one transaction (InTx), statements that run
// one after the other outside any (Alone), or one UPDATE run in batches (Backfill).
type Group struct {
	Mode       Mode
	Table      string // the table a Backfill walks
	Statements []string
}

// Header is what Render writes above the steps.
type Header struct {
	Name        string
	Driver      string
	Fingerprint string
	Spec        string // the spec file it was planned from
}

// Directives of a planned file, in SQL comments so that the file stays SQL.
const (
	directive       = "-- plinth:"
	driverLine      = directive + "driver "
	fingerprintLine = directive + "fingerprint "
	txLine          = directive + "transaction"
	aloneLine       = directive + "alone"
	backfillLine    = directive + "backfill "
)

// Render writes the migration as a planned file: a header saying what it is for, its notes,
// then its steps in groups, each step under a comment saying why. Consecutive steps that run
// in a transaction share one.
func (m *Migration) Render(h Header) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "-- Plinth migration %s, for %s.\n", h.Name, h.Driver)
	comment(&b, fmt.Sprintf("Planned by `plinth migrate plan` from %s; it leads the database to the spec whose schema fingerprint is %s. "+
		"Review it, then run it with `plinth migrate apply`. Once applied it must not change: its checksum is recorded.", h.Spec, h.Fingerprint))
	if len(m.Notes) > 0 {
		b.WriteString("--\n-- Notes:\n")
		for _, n := range m.Notes {
			comment(&b, "- "+n)
		}
	}
	b.WriteString("--\n" + driverLine + h.Driver + "\n" + fingerprintLine + h.Fingerprint + "\n")
	open := false
	for _, s := range m.Steps {
		switch {
		case s.Mode == Alone:
			b.WriteString("\n" + aloneLine + "\n")
		case s.Mode == Backfill:
			b.WriteString("\n" + backfillLine + s.Table + "\n")
		case !open:
			b.WriteString("\n" + txLine + "\n")
		}
		open = s.Mode == InTx
		if s.Why != "" {
			comment(&b, s.Why)
		}
		sql := strings.TrimSuffix(s.SQL, ";\n")
		b.WriteString(sql + ";\n")
	}
	return []byte(b.String())
}

// WriteFile writes the migration, rendered with h, as the file h.Name in the folder of its
// kind of database in dir, and returns its path. It never overwrites a file.
func (m *Migration) WriteFile(dir string, h Header) (string, error) {
	folder := filepath.Join(dir, h.Driver)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(folder, h.Name+".sql")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(m.Render(h)); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// comment writes text as SQL comment lines of at most about 100 characters.
func comment(b *strings.Builder, text string) {
	line := "--"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 100 && line != "--" {
			b.WriteString(line + "\n")
			line = "--"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}

// fileName is the pattern of a planned file's name: a number, then words.
var fileName = regexp.MustCompile(`^([0-9]+)_([a-z0-9_]+)\.sql$`)

// Checksum is the checksum of a planned file's text. Line ends are read as "\n", so that a
// checkout that writes "\r\n" does not make an applied file look edited.
func Checksum(src []byte) string {
	sum := sha256.Sum256([]byte(strings.ReplaceAll(string(src), "\r\n", "\n")))
	return hex.EncodeToString(sum[:])
}

// ParseFile reads a planned file named name ("0003_add_orders_note.sql"). A group starts at
// its directive (-- plinth:transaction, -- plinth:alone, -- plinth:backfill TABLE) and holds
// the statements up to the next; statements end with ";" outside quotes and comments. A
// backfill holds one UPDATE, to which each batch adds a range of ids.
func ParseFile(name string, src []byte) (*File, error) {
	m := fileName.FindStringSubmatch(name)
	if m == nil {
		return nil, fmt.Errorf("%s: a planned migration is named NUMBER_WORDS.sql, in lowercase, like 0003_add_orders_note.sql", name)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &File{Name: strings.TrimSuffix(name, ".sql"), Number: n, Checksum: Checksum(src)}
	var body strings.Builder
	var group *Group
	flush := func() error {
		stmts, err := splitStatements(body.String())
		body.Reset()
		if err != nil {
			return err
		}
		if group == nil {
			if len(stmts) > 0 {
				return errors.New("statements come before the first -- plinth: directive")
			}
			return nil
		}
		if group.Mode == Backfill && (len(stmts) != 1 || !strings.HasPrefix(strings.ToUpper(stmts[0]), "UPDATE ")) {
			return errors.New("a backfill holds one UPDATE statement")
		}
		group.Statements = stmts
		f.Groups = append(f.Groups, *group)
		return nil
	}
	for i, line := range strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		var next *Group
		switch {
		case strings.HasPrefix(trimmed, driverLine):
			f.Driver = strings.TrimSpace(strings.TrimPrefix(trimmed, driverLine))
			continue
		case strings.HasPrefix(trimmed, fingerprintLine):
			f.Fingerprint = strings.TrimSpace(strings.TrimPrefix(trimmed, fingerprintLine))
			continue
		case trimmed == txLine:
			next = &Group{Mode: InTx}
		case trimmed == aloneLine:
			next = &Group{Mode: Alone}
		case strings.HasPrefix(trimmed, backfillLine):
			next = &Group{Mode: Backfill, Table: strings.TrimSpace(strings.TrimPrefix(trimmed, backfillLine))}
		case strings.HasPrefix(trimmed, directive):
			return nil, fmt.Errorf("%s:%d: unknown directive %q", name, i+1, trimmed)
		default:
			body.WriteString(line + "\n")
			continue
		}
		if err := flush(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		group = next
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case f.Driver == "":
		return nil, fmt.Errorf("%s: no %q line says which database it is for", name, strings.TrimSpace(driverLine))
	case len(f.Groups) == 0:
		return nil, fmt.Errorf("%s: no steps", name)
	}
	return f, nil
}

// dollarQuote starts a PostgreSQL dollar-quoted string: $$ or $tag$.
var dollarQuote = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z_0-9]*)?\$`)

// splitStatements splits SQL text into statements at each ";" outside quoted text ('…', "…",
// $tag$…$tag$) and comments (-- to the end of the line, /* … */), which it leaves out.
func splitStatements(text string) ([]string, error) {
	var out []string
	var cur strings.Builder
	end := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(text); {
		rest := text[i:]
		switch c := text[i]; {
		case strings.HasPrefix(rest, "--"):
			j := strings.IndexByte(rest, '\n')
			if j < 0 {
				j = len(rest)
			}
			i += j
		case strings.HasPrefix(rest, "/*"):
			j := strings.Index(rest, "*/")
			if j < 0 {
				return nil, errors.New("a /* comment is not closed")
			}
			i += j + 2
		case c == '\'' || c == '"':
			j := quoteEnd(rest, c)
			if j < 0 {
				return nil, fmt.Errorf("a %c quote is not closed", c)
			}
			cur.WriteString(rest[:j])
			i += j
		case c == '$' && dollarQuote.MatchString(rest):
			tag := dollarQuote.FindString(rest)
			j := strings.Index(rest[len(tag):], tag)
			if j < 0 {
				return nil, fmt.Errorf("a %s quote is not closed", tag)
			}
			cur.WriteString(rest[:len(tag)+j+len(tag)])
			i += len(tag) + j + len(tag)
		case c == ';':
			end()
			i++
		default:
			cur.WriteByte(c)
			i++
		}
	}
	end()
	return out, nil
}

// quoteEnd is the length of the quoted text at the start of s, quoted by q, which a doubled q
// escapes; -1 when it is not closed.
func quoteEnd(s string, q byte) int {
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			i++
			continue
		}
		return i + 1
	}
	return -1
}

// ReadFiles reads the planned files of one kind of database: dir/driver/*.sql, in the order
// of their numbers. A missing folder holds none. Two files of one number, a file of another
// kind of database, or one that does not parse, is an error.
func ReadFiles(dir, driver string) ([]*File, error) {
	folder := filepath.Join(dir, driver)
	entries, err := os.ReadDir(folder)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []*File
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(folder, e.Name()))
		if err != nil {
			return nil, err
		}
		f, err := ParseFile(e.Name(), src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", folder, err)
		}
		if f.Driver != driver {
			return nil, fmt.Errorf("%s: %s is written for %s, not %s", folder, e.Name(), f.Driver, driver)
		}
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b *File) int { return a.Number - b.Number })
	for i := 1; i < len(files); i++ {
		if files[i].Number == files[i-1].Number {
			return nil, fmt.Errorf("%s: %s and %s have the same number", folder, files[i-1].Name, files[i].Name)
		}
	}
	return files, nil
}

// NextName names the file planned after files: the next number, four digits at least, and
// slug.
func NextName(files []*File, slug string) string {
	n := 1
	if len(files) > 0 {
		n = files[len(files)-1].Number + 1
	}
	return fmt.Sprintf("%04d_%s", n, slug)
}

// slugVerbs name, in a file's name, what a change does.
var slugVerbs = map[string]string{
	"created table": "create", "added column": "add", "renamed table": "rename", "renamed column": "rename",
	"dropped column": "drop", "dropped tables": "drop_tables", "retired column": "retire", "retyped field": "retype", "converted values": "convert",
	"filled null values with the default": "fill", "created index": "index", "dropped index": "drop_index",
	"created foreign key": "reference",
}

// Slug names the migration in a file's name by its first change, preferring one that only a
// planned migration makes: "add_orders_note", "rename_people_handle".
func (m *Migration) Slug() string {
	var pick *Step
	for i := range m.Steps {
		s := &m.Steps[i]
		if s.change != "" && (pick == nil || s.Planned && !pick.Planned) {
			pick = s
		}
	}
	if pick == nil {
		return "record_fields"
	}
	parts := []string{slugVerbs[pick.change]}
	for i := 0; i+1 < len(pick.attrs); i += 2 {
		if k := pick.attrs[i]; k == "resource" || k == "field" {
			parts = append(parts, strings.TrimLeft(fmt.Sprint(pick.attrs[i+1]), "_"))
		}
	}
	slug := strings.Join(parts, "_")
	if len(slug) > 48 {
		slug = strings.TrimRight(slug[:48], "_")
	}
	return slug
}
