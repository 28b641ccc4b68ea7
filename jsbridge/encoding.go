package jsbridge

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// installEncoding installs TextEncoder, TextDecoder, atob and btoa.
func (s *Spider) installEncoding() {
	vm := s.vm
	enc := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		_ = call.This.Set("encoding", "utf-8")
		return nil
	}).(*goja.Object)
	_ = enc.Get("prototype").(*goja.Object).Set("encode", func(call goja.FunctionCall) goja.Value {
		str := ""
		if present(call.Argument(0)) {
			str = call.Argument(0).String()
		}
		return s.uint8Array([]byte(str))
	})
	dec := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		label := "utf-8"
		if present(call.Argument(0)) {
			label = strings.ToLower(call.Argument(0).String())
		}
		if label != "utf-8" && label != "utf8" {
			panic(vm.NewTypeError("TextDecoder: only utf-8 is supported, got %q", label))
		}
		_ = call.This.Set("encoding", "utf-8")
		return nil
	}).(*goja.Object)
	_ = dec.Get("prototype").(*goja.Object).Set("decode", func(call goja.FunctionCall) goja.Value {
		if !present(call.Argument(0)) {
			return vm.ToValue("")
		}
		b, err := bytesOf(call.Argument(0))
		if err != nil {
			panic(vm.NewTypeError("TextDecoder.decode: %v", err))
		}
		return vm.ToValue(strings.ToValidUTF8(string(b), "\uFFFD"))
	})
	_ = vm.Set("TextEncoder", enc)
	_ = vm.Set("TextDecoder", dec)
	_ = vm.Set("btoa", func(str string) (string, error) {
		b := make([]byte, 0, len(str))
		for _, r := range str {
			if r > 0xFF {
				return "", errors.New("btoa: the string contains characters outside of the Latin1 range")
			}
			b = append(b, byte(r))
		}
		return base64.StdEncoding.EncodeToString(b), nil
	})
	_ = vm.Set("atob", func(str string) (string, error) {
		str = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\t' || r == '\r' || r == '\f' {
				return -1
			}
			return r
		}, str)
		if m := len(str) % 4; m != 0 {
			str += strings.Repeat("=", 4-m)
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return "", errors.New("atob: the string to be decoded is not correctly encoded")
		}
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String(), nil
	})
	msg := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		data, m, err := wsMsgArgs(call.Argument(0), call.Argument(1))
		if err != nil {
			panic(vm.NewTypeError("WebSocketMsg: %v", err))
		}
		flags := "text"
		if m.Binary {
			flags = "binary"
		}
		_ = call.This.Set("data", data)
		_ = call.This.Set("flags", flags)
		_ = call.This.Set("binary", m.Binary)
		return nil
	})
	_ = vm.Set("WebSocketMsg", msg)
}

func (s *Spider) uint8Array(b []byte) goja.Value {
	buf := s.vm.NewArrayBuffer(b)
	v, err := s.vm.New(s.protos.uint8Array, s.vm.ToValue(buf))
	if err != nil {
		panic(err)
	}
	return v
}

// errWSMsg is what a value that is not a WebSocket message gets.
var errWSMsg = errors.New("want a string, Uint8Array, ArrayBuffer or WebSocketMsg ({data, flags})")

// wsMessageOf reads one WebSocket message (specs/websocket.md): a string is
// a text frame; a Uint8Array or ArrayBuffer a binary frame; a WebSocketMsg,
// or any object with data and flags ("text" | "binary", or an array holding
// one of them, such as a response's flags) or binary (a boolean), the frame
// it describes. The same rules serve send_message, response.send and the
// WebSocketMsg constructor.
func wsMessageOf(v goja.Value) (crawl.WSMessage, error) {
	_, m, err := wsMsgArgs(v, nil)
	return m, err
}

// wsMsgArgs reads the arguments of new WebSocketMsg: ({data, flags}) (or
// {data, binary}, or another WebSocketMsg), or (data, options) with options
// {flags}, {binary}, a flags string or array, or a boolean (binary). It
// returns the data value as given and the message.
func wsMsgArgs(v, opts goja.Value) (goja.Value, crawl.WSMessage, error) {
	data := v
	if o, ok := v.(*goja.Object); ok {
		if _, err := bytesOf(o); err != nil {
			// The object form: the object holds data and the options.
			if data = o.Get("data"); !present(data) {
				return nil, crawl.WSMessage{}, errWSMsg
			}
			opts = o
		}
	}
	if !present(data) {
		return nil, crawl.WSMessage{}, errWSMsg
	}
	b, err := bytesOf(data)
	if err != nil {
		return nil, crawl.WSMessage{}, fmt.Errorf("data: %w", err)
	}
	_, binary := data.(*goja.Object) // bytes; a string is text
	var flags, bin goja.Value
	if o, ok := opts.(*goja.Object); ok {
		if o.ClassName() == "Array" {
			flags = o
		} else {
			flags, bin = o.Get("flags"), o.Get("binary")
		}
	} else if present(opts) {
		if _, ok := opts.Export().(string); ok {
			flags = opts
		} else {
			bin = opts
		}
	}
	m, err := wsMsgFlags(b, binary, flags, bin)
	return data, m, err
}

// wsMsgFlags applies flags ("text" | "binary", or an array holding one of
// them next to "websocket") and binary to a message whose kind defaults to
// binary for bytes and text for a string; the two may not disagree.
func wsMsgFlags(b []byte, binary bool, flags, bin goja.Value) (crawl.WSMessage, error) {
	kind := ""
	if present(flags) {
		names := []string{flags.String()}
		if o, ok := flags.(*goja.Object); ok && o.ClassName() == "Array" {
			names = names[:0]
			for _, k := range o.Keys() {
				names = append(names, o.Get(k).String())
			}
		}
		for _, n := range names {
			switch {
			case n == "websocket":
			case n != "text" && n != "binary":
				return crawl.WSMessage{}, fmt.Errorf(`flags: want "text" or "binary", got %q`, n)
			case kind != "" && kind != n:
				return crawl.WSMessage{}, errors.New(`flags: both "text" and "binary"`)
			default:
				kind = n
			}
		}
	}
	if kind != "" {
		binary = kind == "binary"
	}
	if present(bin) {
		if kind != "" && binary != bin.ToBoolean() {
			return crawl.WSMessage{}, fmt.Errorf("flags %q and binary: %v disagree", kind, bin.ToBoolean())
		}
		binary = bin.ToBoolean()
	}
	return crawl.WSMessage{Data: b, Binary: binary}, nil
}
