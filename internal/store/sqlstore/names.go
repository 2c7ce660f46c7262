package sqlstore

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/plinth-dev/plinth/internal/spec"
)

// Prefixes of the names of indexes that Plinth makes: Plan drops those the spec no longer has,
// and leaves every other index alone.
const (
	indexPrefix       = "ix_"
	uniqueIndexPrefix = "ux_"
)

// IndexName names an index of the spec: ux_ (unique) or ix_, the table, the fields. It is
// stable for the same fields, so that an unchanged spec changes nothing.
func IndexName(table string, ix spec.Index) string {
	prefix := indexPrefix
	if ix.Unique {
		prefix = uniqueIndexPrefix
	}
	return shortName(prefix, table, ix.Fields)
}

// PrimaryKeyName names a table's primary key constraint, where the dialect names one.
func PrimaryKeyName(table string) string { return shortName("pk_", table, nil) }

// ForeignKeyName names the foreign key of a table's ref field.
func ForeignKeyName(table, field string) string { return shortName("fk_", table, []string{field}) }

// isPlinthIndex reports whether an index is one Plinth made for the spec.
func isPlinthIndex(name string) bool {
	return strings.HasPrefix(name, indexPrefix) || strings.HasPrefix(name, uniqueIndexPrefix)
}

// shortName is prefix + table + fields, hashed when long: within PostgreSQL's 63-byte
// identifiers, and the same in every dialect.
func shortName(prefix, table string, fields []string) string {
	name := prefix + table
	if len(fields) > 0 {
		name += "_" + strings.Join(fields, "_")
	}
	if len(name) > 60 {
		sum := sha256.Sum256([]byte(name))
		name = name[:48] + "_" + hex.EncodeToString(sum[:5])
	}
	return name
}
