package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
)

// maxJSONDepth bounds nesting in request bodies, so that no input can exhaust the stack.
const maxJSONDepth = 32

// errSyntax describes a body that is not the JSON object we expect; its text is safe to show.
type errSyntax struct{ msg string }

func (e *errSyntax) Error() string { return e.msg }

// decodeObject reads exactly one JSON object from r. Unlike encoding/json's defaults, it
// rejects duplicate member names (an attacker's favourite ambiguity), invalid UTF-8, deep
// nesting and trailing data, and keeps numbers exact as json.Number. It reads tokens with
// jsontext (the standard library's encoding/json/jsontext from Go 1.27), which reads a number
// or a string without allocating, where encoding/json's Decoder.Token builds an error value
// for every number it meets.
func decodeObject(r io.Reader) (map[string]any, error) {
	// Duplicates are found here rather than by the decoder, to name the member in the error.
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true))
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, syntaxError(err)
	}
	if tok.Kind() != '{' {
		return nil, &errSyntax{"the body must be a JSON object"}
	}
	obj, err := decodeMembers(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(err)
		}
		return nil, &errSyntax{"the body has data after the JSON object"}
	}
	return obj, nil
}

func syntaxError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	if errors.Is(err, io.EOF) {
		return &errSyntax{"the body is empty; send a JSON object"}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &errSyntax{"the body ends in the middle of the JSON"}
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return &errSyntax{fmt.Sprintf("the body is not valid JSON in UTF-8 (at byte %d)", se.ByteOffset)}
	}
	return &errSyntax{"the body is not valid JSON"}
}

// decodeMembers reads an object's members, after its opening brace, and its closing brace.
func decodeMembers(dec *jsontext.Decoder, depth int) (map[string]any, error) {
	obj := map[string]any{}
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, syntaxError(err)
		}
		key := tok.String()
		if _, dup := obj[key]; dup {
			return nil, &errSyntax{fmt.Sprintf("the member %q appears twice", key)}
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	if _, err := dec.ReadToken(); err != nil { // the closing brace
		return nil, syntaxError(err)
	}
	return obj, nil
}

// decodeValue reads one value: strings as string, numbers as json.Number, true and false as
// bool, null as nil, objects as map[string]any and arrays as []any.
func decodeValue(dec *jsontext.Decoder, depth int) (any, error) {
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, syntaxError(err)
	}
	switch tok.Kind() {
	case 'n':
		return nil, nil
	case 't', 'f':
		return tok.Bool(), nil
	case '"':
		return tok.String(), nil
	case '0':
		return json.Number(tok.String()), nil
	}
	if depth >= maxJSONDepth {
		return nil, &errSyntax{fmt.Sprintf("the body nests deeper than %d levels", maxJSONDepth)}
	}
	if tok.Kind() == '{' {
		return decodeMembers(dec, depth+1)
	}
	arr := []any{}
	for k := dec.PeekKind(); k != ']'; k = dec.PeekKind() {
		if k == 0 { // the decoder met an error: ReadToken reports it
			_, err := dec.ReadToken()
			return nil, syntaxError(err)
		}
		v, err := decodeValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, syntaxError(err)
	}
	return arr, nil
}

// marshal encodes documents that are not records (problems, health) with encoding/json.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{}`)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
