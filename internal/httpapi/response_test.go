package httpapi

import (
	"bytes"
	"maps"
	"testing"
)

// TestEnvelope: a stored response reads back as it was, its body byte for byte, in the
// documented version 1 of the envelope, which the store's conversion of earlier outcomes
// writes too.
func TestEnvelope(t *testing.T) {
	created := response{status: 201, header: map[string]string{"Location": "/v1/notes/1", "Content-Type": "application/json"},
		body: []byte("{\"title\":\"ü <&> \\n\"}\n")}
	want := "{\"v\":1,\"status\":201,\"header\":{\"Content-Type\":\"application/json\",\"Location\":\"/v1/notes/1\"}}\n" +
		"{\"title\":\"ü <&> \\n\"}\n"
	if got := created.encode(); string(got) != want {
		t.Errorf("encoded\n%q\nwant\n%q", got, want)
	}
	for name, resp := range map[string]response{
		"created":     created,
		"no content":  {status: 204, header: map[string]string{}},
		"no header":   {status: 200, body: []byte("{}")},
		"any bytes":   {status: 422, header: map[string]string{"X-Odd": "ü \" \\ \n"}, body: []byte("\n\x00\xff\r\n{")},
		"empty lines": {status: 200, body: []byte("\n\n")},
	} {
		got, err := decodeResponse(resp.encode())
		if err != nil || got.status != resp.status || !maps.Equal(got.header, resp.header) || !bytes.Equal(got.body, resp.body) {
			t.Errorf("%s: read back as %+v, %v; want %+v", name, got, err, resp)
		}
	}
	for _, stored := range []string{
		``,
		`{"v":1,"status":200,"header":{}}`,
		"{\"v\":2,\"status\":200,\"header\":{}}\n{}",
		"{\"status\":200,\"header\":{}}\n{}",
		"{\"v\":1,\"status\":2200,\"header\":{}}\n{}",
		"{\"v\":1,\"status\":0}\n",
		"200\n{}",
	} {
		if got, err := decodeResponse([]byte(stored)); err == nil {
			t.Errorf("%q read as %+v; want an error", stored, got)
		}
	}
}
