package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxJSONDepth bounds nesting in request bodies, so that no input can exhaust the stack.
const maxJSONDepth = 32

// errSyntax describes a body that is not the JSON object we expect; its text is safe to show.
type errSyntax struct{ msg string }

func (e *errSyntax) Error() string { return e.msg }

// decodeObject reads exactly one JSON object from r. Unlike encoding/json's defaults, it
// rejects duplicate member names (an attacker's favourite ambiguity), deep nesting and
// trailing data, and keeps numbers exact as json.Number.
func decodeObject(r io.Reader) (map[string]any, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &errSyntax{"the body must be a JSON object"}
	}
	obj, err := decodeMembers(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(dec, err)
		}
		return nil, &errSyntax{"the body has data after the JSON object"}
	}
	return obj, nil
}

func syntaxError(dec *json.Decoder, err error) error {
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
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &errSyntax{fmt.Sprintf("the body is not valid JSON (at byte %d)", se.Offset)}
	}
	return &errSyntax{fmt.Sprintf("the body is not valid JSON (at byte %d)", dec.InputOffset())}
}

func decodeMembers(dec *json.Decoder, depth int) (map[string]any, error) {
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(dec, err)
		}
		key, _ := tok.(string)
		if _, dup := obj[key]; dup {
			return nil, &errSyntax{fmt.Sprintf("the member %q appears twice", key)}
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntaxError(dec, err)
	}
	return obj, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(dec, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxJSONDepth {
		return nil, &errSyntax{fmt.Sprintf("the body nests deeper than %d levels", maxJSONDepth)}
	}
	if d == '{' {
		return decodeMembers(dec, depth+1)
	}
	arr := []any{}
	for dec.More() {
		v, err := decodeValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxError(dec, err)
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
