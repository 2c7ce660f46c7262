package obsgen

import (
	"fmt"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
)

// Objective is one service-level objective as the generated rules see it.
type Objective struct {
	// Name is the objective's name, [a-z0-9-]+; it is the slo label of every series and alert.
	Name string
	// Routes are the ServeMux patterns whose requests count, as the route label carries them
	// ("POST /v1/orders").
	Routes []string
	// Objective is the ratio of requests that must be good, in (0, 1): 0.999 for 99.9%.
	Objective float64
	// Latency, when positive, makes a request good when answered in under it; otherwise a
	// request is good when its status is not 5xx.
	Latency time.Duration
	// Window is the period the objective holds over (28 days when zero); it shows in the
	// alerts' descriptions.
	Window time.Duration
}

// DefaultWindow is an objective's window when it names none.
const DefaultWindow = 28 * 24 * time.Hour

// Objectives are the objectives of m's slos: section, as the rules see them.
func Objectives(m *spec.Model) []Objective {
	var out []Objective
	for _, o := range m.SLOs {
		out = append(out, Objective{Name: o.Name, Routes: o.Routes, Objective: o.Objective, Latency: o.Latency, Window: o.Window})
	}
	return out
}

// validate reports the first objective that cannot be turned into rules.
func validate(objectives []Objective) error {
	seen := map[string]bool{}
	for _, o := range objectives {
		switch {
		case !validName(o.Name):
			return fmt.Errorf("objective %q: a name is [a-z0-9-]+", o.Name)
		case seen[o.Name]:
			return fmt.Errorf("objective %q: declared twice", o.Name)
		case len(o.Routes) == 0:
			return fmt.Errorf("objective %q: selects no route", o.Name)
		case !(o.Objective > 0 && o.Objective < 1):
			return fmt.Errorf("objective %q: the objective %v is not a ratio in (0, 1)", o.Name, o.Objective)
		case o.Latency < 0 || o.Window < 0:
			return fmt.Errorf("objective %q: negative latency or window", o.Name)
		}
		seen[o.Name] = true
	}
	return nil
}

func validName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}
