package spec

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// credentialFormats are the shapes of credentials that issuers make recognisable on purpose
// (prefixes such as sk_live_), so that they can be found where they should not be.
var credentialFormats = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a Stripe secret key", regexp.MustCompile(`\b[rs]k_(live|test)_[0-9A-Za-z]{16,}`)},
	{"a Standard Webhooks signing secret", regexp.MustCompile(`\bwhsec_[A-Za-z0-9+/=]{16,}`)},
	{"a GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})`)},
	{"a GitLab token", regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}`)},
	{"a Slack token", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`)},
	{"an AWS access key", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"a Google API key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`)},
	{"a private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
	{"a JSON Web Token", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)},
	{"a Slack or Discord webhook URL (whoever has it may post)", regexp.MustCompile(`https://(hooks\.slack\.com/(services|workflows)|(discord|discordapp)\.com/api/webhooks)/\S+`)},
}

// urlPattern finds URLs inside a value, for the credentials they may carry.
var urlPattern = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^\s"'<>]+`)

// credentialParams are query parameters that carry a credential (?token=…).
var credentialParams = []string{"token", "access_token", "api_key", "apikey", "key", "secret", "password", "sig", "signature", "auth"}

// credentialInSpec: a spec is committed and read as documentation, so a credential written in
// it is published. The keys that hold secrets refuse literals already (they are errors);
// this looks at every other value — a webhook URL, a default, a description, an expression.
func credentialInSpec(v *review) {
	var walk func(n *yaml.Node, at []string)
	walk = func(n *yaml.Node, at []string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], append(slices.Clip(at), n.Content[i].Value))
			}
		case yaml.SequenceNode:
			for _, item := range n.Content {
				walk(item, at)
			}
		case yaml.ScalarNode:
			if what := credentialIn(n.Value); what != "" {
				v.warn(v.pos(n), credentialFix(at), "%s holds what looks like %s: whoever reads the spec can use it", strings.Join(at, "."), what)
			}
		}
	}
	walk(v.root, nil)
}

// credentialIn names the credential s holds, or returns "".
func credentialIn(s string) string {
	for _, f := range credentialFormats {
		if f.re.MatchString(s) {
			return f.what
		}
	}
	for _, raw := range urlPattern.FindAllString(s, -1) {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			return "a URL with a password in it"
		}
		for name, vals := range u.Query() {
			if slices.Contains(credentialParams, strings.ToLower(name)) && slices.ContainsFunc(vals, func(x string) bool { return x != "" }) {
				return fmt.Sprintf("a URL with a credential in its query (%s=…)", name)
			}
		}
	}
	return ""
}

// credentialFix says where the credential should live instead: a webhook's URL reads an
// environment variable; anything else has no place in the spec.
func credentialFix(at []string) string {
	const rotate = " and rotate it: it has been shared with everyone who could read the spec"
	if len(at) == 3 && at[0] == "webhooks" && at[2] == "url" {
		env := strings.ToUpper(at[1]) + "_URL"
		return fmt.Sprintf("read it from the environment: `url: \"${%s}\"`, with %s set where the server runs,%s", env, env, rotate)
	}
	return "remove it from the spec" + rotate + `; secrets belong in environment variables, which auth.jwt.hs256_secret and webhooks' url, secret and previous_secret read as "${NAME}"`
}
