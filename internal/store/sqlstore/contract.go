package sqlstore

import (
	"fmt"
	"strings"

	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// contract drops, in a plan allowing data loss, the columns that earlier plans retired and the
// tables of resources the spec no longer has: the last step of expand/contract, planned once
// no replica serves a spec that has them. Otherwise they are kept, and the notes say so.
func (p *planner) contract() {
	orphans := p.orphans()
	for _, r := range p.model.Resources {
		for _, col := range p.retired[r.Name] {
			p.note("%s.%s is retired: its column stays, for replicas still serving a spec that has it; once none does, plan again allowing data loss to drop it.", r.Name, col)
		}
	}
	if !p.opts.AllowDataLoss {
		p.m.Orphans = orphans
		for _, r := range keys(p.dropped) {
			for _, col := range p.dropped[r] {
				p.note("%s.%s is retired: its column stays until a plan allowing data loss drops it.", r, col)
			}
		}
		for _, t := range orphans {
			p.note("%s is no longer in the spec: its table stays until a plan allowing data loss drops it.", t)
		}
		return
	}
	fields := p.ddl.Qualify(fieldsTable)
	for _, r := range keys(p.dropped) {
		for _, col := range p.dropped[r] {
			if p.ddl.InlineForeignKeys && strings.HasPrefix(p.cat.Signatures[r][col], "ref(") {
				p.note("%s.%s stays retired: this database cannot drop a column that has a foreign key.", r, col)
				continue
			}
			p.add(Step{SQL: "ALTER TABLE " + p.table(r) + " DROP COLUMN " + sqlwhere.Quote(col), Planned: true,
				Why:    fmt.Sprintf("%s.%s was retired by an earlier migration: its column and its values go.", r, col),
				change: "dropped column", attrs: []any{"resource", r, "field", col}, fails: "drop " + r + "." + col})
			p.record("DELETE FROM " + fields + ` WHERE "resource" = ` + Quoted(r) + ` AND "field" = ` + Quoted(col))
		}
	}
	if len(orphans) == 0 {
		return
	}
	tables, names := make([]string, len(orphans)), make([]string, len(orphans))
	for i, t := range orphans {
		tables[i], names[i] = p.table(t), Quoted(t)
	}
	for i, q := range p.ddl.DropTables(tables) {
		s := Step{SQL: q, Planned: true, fails: "drop the tables " + strings.Join(orphans, ", ")}
		if i == 0 {
			s.Why = fmt.Sprintf("No longer in the spec: %s. Their tables and records go.", strings.Join(orphans, ", "))
			s.change, s.attrs = "dropped tables", []any{"tables", strings.Join(orphans, ",")}
		}
		p.add(s)
	}
	p.record("DELETE FROM " + fields + ` WHERE "resource" IN (` + strings.Join(names, ", ") + ")")
}

// note adds a line to the notes of the migration.
func (p *planner) note(format string, args ...any) {
	p.m.Notes = append(p.m.Notes, fmt.Sprintf(format, args...))
}

// fieldRows is how many rows one statement writes into "_plinth_fields": SQLite bounds the
// rows of one VALUES.
const fieldRows = 100

// recordFields brings "_plinth_fields" to what the spec says of each field: its signature,
// whether it holds no null (a migration that commits has filled or refused every null of a
// field the spec says is never null), and which fields this plan retires. Only the rows that
// change are written, so an unchanged spec writes nothing.
func (p *planner) recordFields() {
	var rows, retired []string
	row := func(r, f, sig string, noNulls, retired bool) string {
		return "(" + Quoted(r) + ", " + Quoted(f) + ", " + Quoted(sig) + ", " + boolLiteral(noNulls) + ", " + boolLiteral(retired) + ")"
	}
	for _, r := range p.model.Resources {
		for _, f := range r.Fields {
			sig, ok := p.cat.Signatures[r.Name][f.Name]
			noNulls := !Nullable(f)
			// Only a plan brings a retired field back: a start of a spec that still has it is
			// a replica not yet updated, which must not undo the retirement.
			retired := p.cat.Retired[r.Name][f.Name] && !p.opts.File
			if ok && sig == f.Signature() && p.cat.NoNulls[r.Name][f.Name] == noNulls && p.cat.Retired[r.Name][f.Name] == retired {
				continue
			}
			rows = append(rows, row(r.Name, f.Name, f.Signature(), noNulls, retired))
		}
		for _, col := range p.retired[r.Name] {
			retired = append(retired, row(r.Name, col, cmpOr(p.cat.Signatures[r.Name][col], p.cat.Columns[r.Name][col]), false, true))
			p.add(Step{SQL: p.upsertFields(retired[len(retired)-1:]), Planned: true,
				Why:    fmt.Sprintf("%s.%s is no longer in the spec: it is retired, and its column kept for now.", r.Name, col),
				change: "retired column", attrs: []any{"resource", r.Name, "field", col}, fails: "retire " + r.Name + "." + col})
		}
	}
	for i := 0; i < len(rows); i += fieldRows {
		s := Step{SQL: p.upsertFields(rows[i:min(i+fieldRows, len(rows))]), fails: "record the fields in " + fieldsTable}
		if i == 0 {
			s.Why = "Record what the spec says of each field that changed: its type, and whether it may be null."
		}
		p.add(s)
	}
}

// upsertFields writes rows of (resource, field, signature, no_nulls, retired) into
// "_plinth_fields".
func (p *planner) upsertFields(rows []string) string {
	return "INSERT INTO " + p.ddl.Qualify(fieldsTable) + ` ("resource", "field", "signature", "no_nulls", "retired") VALUES` +
		"\n  " + strings.Join(rows, ",\n  ") + "\n" + `ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", ` +
		`"no_nulls" = excluded."no_nulls", "retired" = excluded."retired"`
}

func boolLiteral(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}
