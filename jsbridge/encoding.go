package jsbridge

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/dop251/goja"
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
		_ = call.This.Set("data", call.Argument(0))
		binary := false
		if o, ok := call.Argument(1).(*goja.Object); ok {
			binary = o.Get("binary") != nil && o.Get("binary").ToBoolean()
		} else if present(call.Argument(1)) {
			binary = call.Argument(1).ToBoolean()
		}
		if d, ok := call.Argument(0).(*goja.Object); ok && !binary {
			if _, err := bytesOf(d); err == nil {
				binary = true
			}
		}
		_ = call.This.Set("binary", binary)
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
