package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/plinth-dev/plinth/internal/store"
)

// response is an answer of the transport, rendered before it is sent, so that the answer to
// a write can be stored with the write and sent again when the write is retried.
type response struct {
	status int
	header map[string]string
	body   []byte
}

// renderer turns the outcome of a write into its response (see engine.Renderer).
type renderer func(records []*store.Record, err error) response

// A response is stored as version 1 of an envelope: a line of JSON with the version, the
// status and the headers, then the body's bytes as they were sent:
//
//	{"v":1,"status":201,"header":{"Content-Type":"application/json","Location":"/v1/orders/1"}}
//	{"id":"1",…}
//
// JSON never holds a raw newline, so the head ends at the first one. The body follows unread
// and unescaped, whatever its bytes (JSON, or nothing at all for a 204): a replay sends it
// byte for byte, and reading a stored response parses only its head. A later version changes
// "v", and decodeResponse refuses one it does not know. encode writes the envelope and
// decodeResponse reads it; the store's conversion of outcomes stored before there were
// envelopes writes this version too (sqlstore.ConvertOutcomes).
const envelopeVersion = 1

// envelopeHead is the envelope's first line.
type envelopeHead struct {
	V      int               `json:"v"`
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
}

// encode is resp as it is stored: the envelope above.
func (resp response) encode() []byte {
	// An int and strings always marshal.
	head, _ := json.Marshal(envelopeHead{V: envelopeVersion, Status: resp.status, Header: resp.header})
	return append(append(head, '\n'), resp.body...)
}

// decodeResponse reads a stored response that encode wrote.
func decodeResponse(stored []byte) (response, error) {
	line, body, ok := bytes.Cut(stored, []byte{'\n'})
	if !ok {
		return response{}, errors.New("stored response: no envelope")
	}
	var head envelopeHead
	if err := json.Unmarshal(line, &head); err != nil {
		return response{}, fmt.Errorf("stored response: %w", err)
	}
	if head.V != envelopeVersion {
		return response{}, fmt.Errorf("stored response: envelope version %d, not %d", head.V, envelopeVersion)
	}
	if head.Status < 100 || head.Status > 999 {
		return response{}, fmt.Errorf("stored response: status %d", head.Status)
	}
	return response{status: head.Status, header: head.Header, body: body}, nil
}

// writeResponse sends a rendered response.
func writeResponse(w http.ResponseWriter, resp response) {
	for k, v := range resp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.status)
	w.Write(resp.body)
}
