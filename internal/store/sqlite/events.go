package sqlite

import (
	"context"
	"fmt"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// eventsTable is the outbox. AUTOINCREMENT makes sequence numbers strictly increasing and
// never reused, even after the newest events are swept; writes are serialised, so sequence
// order is commit order.
const eventsTable = `CREATE TABLE IF NOT EXISTS ` + sqlstore.Events + ` (
  "seq" INTEGER PRIMARY KEY AUTOINCREMENT,
  "id" TEXT NOT NULL,
  "type" TEXT NOT NULL,
  "resource" TEXT NOT NULL,
  "record_id" TEXT NOT NULL,
  "time" TEXT NOT NULL,
  "actor" TEXT NOT NULL,
  "data" TEXT NOT NULL
) STRICT`

// Events have no index besides seq: every write adds one, and readers scan forward from a
// sequence number anyway. Event ids are UUIDv7s, unique by construction.

// appendEventSQL appends an event; Open prepares it.
var appendEventSQL = internalDialect.AppendEventSQL()

// AppendEvent implements store.Tx.
func (x *tx) AppendEvent(ctx context.Context, r *spec.Resource, ev store.Event) error {
	ctx = noCancel(ctx)
	data, err := sqlstore.AppendEventData(nil, ev.Record, ev.Old)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	_, err = x.group.bind(ctx, x.db.appendEvent).ExecContext(ctx, internalDialect.EventArgs(ev, string(data))...)
	return x.db.classify(err, nil)
}
