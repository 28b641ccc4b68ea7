package websocket

import (
	"errors"
	"net/http"
	"testing"
)

// TestAcceptExtensions: a server's answer to Chromium's offer is made
// acceptable to the WebSocket library, or refused when it asks for a
// window the library cannot use.
func TestAcceptExtensions(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "", want: ""},
		{in: "permessage-deflate", want: "permessage-deflate"},
		{in: "permessage-deflate; client_max_window_bits", want: "permessage-deflate"},
		{in: "permessage-deflate; client_max_window_bits=15; server_max_window_bits=12", want: "permessage-deflate; server_max_window_bits=12"},
		{in: `permessage-deflate; client_max_window_bits="15"`, want: "permessage-deflate"},
		{in: "permessage-deflate; server_no_context_takeover; client_max_window_bits=10", err: true},
	} {
		h := http.Header{}
		if tc.in != "" {
			h.Set("Sec-WebSocket-Extensions", tc.in)
		}
		err := acceptExtensions(h)
		if tc.err {
			if !errors.Is(err, errWindowBits) {
				t.Errorf("%q: error %v, want errWindowBits", tc.in, err)
			}
			continue
		}
		if err != nil || h.Get("Sec-WebSocket-Extensions") != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.in, h.Get("Sec-WebSocket-Extensions"), err, tc.want)
		}
	}
}
