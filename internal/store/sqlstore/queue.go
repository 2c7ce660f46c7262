package sqlstore

import "github.com/plinth-dev/plinth/internal/store"

// ScanCounts reads rows of (subscription, state, count), as store.Queue's Counts returns them.
func ScanCounts(rows Rows) (map[string]map[store.State]int, error) {
	out := map[string]map[store.State]int{}
	for rows.Next() {
		var sub, state string
		var n int
		if err := rows.Scan(&sub, &state, &n); err != nil {
			return nil, err
		}
		if out[sub] == nil {
			out[sub] = map[store.State]int{}
		}
		out[sub][store.State(state)] = n
	}
	return out, rows.Err()
}
