package execjs

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
)

// The crypto module: the subset of Node's require('crypto') that signing
// scripts written for PyExecJS (which runs them under Node) use. goja_nodejs
// has no crypto module, so without this `require('crypto').createHash('md5')`
// fails. Hashes, HMAC, random bytes and block ciphers come from Go's
// standard library.

var hashes = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

func nodeCryptoModule(rt *goja.Runtime, module *goja.Object) {
	exports := module.Get("exports").(*goja.Object)
	set := func(name string, fn any) { _ = exports.Set(name, fn) }

	set("createHash", func(alg string) *goja.Object {
		newH, ok := hashes[strings.ToLower(alg)]
		if !ok {
			panic(rt.NewTypeError("crypto.createHash: digest method not supported: " + alg))
		}
		return hashObject(rt, newH(), "Hash")
	})
	set("createHmac", func(alg string, key goja.Value) *goja.Object {
		newH, ok := hashes[strings.ToLower(alg)]
		if !ok {
			panic(rt.NewTypeError("crypto.createHmac: digest method not supported: " + alg))
		}
		return hashObject(rt, hmac.New(newH, jsBytes(rt, key, goja.Undefined())), "Hmac")
	})
	set("randomBytes", func(n int) goja.Value {
		if n < 0 || n > 1<<20 {
			panic(rt.NewTypeError(fmt.Sprintf("crypto.randomBytes: size %d out of range", n)))
		}
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return buffer.WrapBytes(rt, b)
	})
	set("randomUUID", randomUUID)
	set("getHashes", func() []string { return []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"} })
	set("createCipheriv", func(alg string, key, iv goja.Value) *goja.Object {
		return cipherObject(rt, alg, jsBytes(rt, key, goja.Undefined()), ivBytes(rt, iv), true)
	})
	set("createDecipheriv", func(alg string, key, iv goja.Value) *goja.Object {
		return cipherObject(rt, alg, jsBytes(rt, key, goja.Undefined()), ivBytes(rt, iv), false)
	})
}

func ivBytes(rt *goja.Runtime, iv goja.Value) []byte {
	if iv == nil || goja.IsNull(iv) || goja.IsUndefined(iv) {
		return nil
	}
	return jsBytes(rt, iv, goja.Undefined())
}

// hashObject is a Hash or Hmac: update(data[, inputEncoding]) chains,
// digest([encoding]) returns a string, or a Buffer without encoding.
func hashObject(rt *goja.Runtime, h hash.Hash, kind string) *goja.Object {
	o := rt.NewObject()
	done := false
	_ = o.Set("update", func(data, enc goja.Value) *goja.Object {
		if done {
			panic(rt.NewTypeError(kind + ".update: digest already called"))
		}
		h.Write(jsBytes(rt, data, enc))
		return o
	})
	_ = o.Set("digest", func(enc goja.Value) goja.Value {
		if done {
			panic(rt.NewTypeError(kind + ".digest: digest already called"))
		}
		done = true
		return encodeOut(rt, h.Sum(nil), enc)
	})
	return o
}

// cipherObject implements createCipheriv/createDecipheriv for AES (ECB,
// CBC) and 3DES (des-ede3-cbc, des-ede3 = ECB) with PKCS#7 padding (setAutoPadding(false) turns it
// off). update() buffers its input and returns an empty result; final()
// returns everything. `c.update(x, 'utf8', 'hex') + c.final('hex')`, the
// way scripts use it, gives the same string as Node.
func cipherObject(rt *goja.Runtime, alg string, key, iv []byte, encrypt bool) *goja.Object {
	block, mode, err := newBlock(strings.ToLower(alg), key)
	if err != nil {
		panic(rt.NewTypeError("crypto.createCipheriv: " + err.Error()))
	}
	bs := block.BlockSize()
	if mode == "cbc" && len(iv) != bs {
		panic(rt.NewTypeError(fmt.Sprintf("crypto.createCipheriv: invalid IV length %d (want %d)", len(iv), bs)))
	}
	var in []byte
	pad, done := true, false
	o := rt.NewObject()
	_ = o.Set("setAutoPadding", func(v goja.Value) *goja.Object {
		pad = v == nil || goja.IsUndefined(v) || v.ToBoolean()
		return o
	})
	_ = o.Set("update", func(data, inEnc, outEnc goja.Value) goja.Value {
		if done {
			panic(rt.NewTypeError("cipher.update: final already called"))
		}
		in = append(in, jsBytes(rt, data, inEnc)...)
		return encodeOut(rt, nil, outEnc)
	})
	_ = o.Set("final", func(outEnc goja.Value) goja.Value {
		if done {
			panic(rt.NewTypeError("cipher.final: final already called"))
		}
		done = true
		data := in
		if encrypt && pad {
			n := bs - len(data)%bs
			data = append(append([]byte(nil), data...), bytes.Repeat([]byte{byte(n)}, n)...)
		}
		if len(data)%bs != 0 {
			panic(rt.NewTypeError("cipher.final: data length is not a multiple of the block size"))
		}
		out := make([]byte, len(data))
		switch {
		case mode == "ecb":
			for i := 0; i < len(data); i += bs {
				if encrypt {
					block.Encrypt(out[i:i+bs], data[i:i+bs])
				} else {
					block.Decrypt(out[i:i+bs], data[i:i+bs])
				}
			}
		case encrypt:
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, data)
		default:
			cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, data)
		}
		if !encrypt && pad {
			n := 0
			if len(out) > 0 {
				n = int(out[len(out)-1])
			}
			if n == 0 || n > bs || n > len(out) || !bytes.Equal(out[len(out)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
				panic(rt.NewTypeError("cipher.final: bad decrypt"))
			}
			out = out[:len(out)-n]
		}
		return encodeOut(rt, out, outEnc)
	})
	return o
}

func newBlock(alg string, key []byte) (cipher.Block, string, error) {
	var name, mode string
	ok := false
	switch {
	case alg == "des-ede3-cbc":
		name, mode, ok = "des-ede3", "cbc", true
	case alg == "des-ede3":
		name, mode, ok = "des-ede3", "ecb", true
	case strings.HasPrefix(alg, "aes-"):
		// aes-128-cbc: the key size is in the middle.
		parts := strings.Split(alg, "-")
		if len(parts) != 3 {
			return nil, "", fmt.Errorf("unsupported cipher %q", alg)
		}
		name, mode, ok = "aes-"+parts[1], parts[2], true
	}
	if !ok || (mode != "cbc" && mode != "ecb") {
		return nil, "", fmt.Errorf("unsupported cipher %q (supported: aes-128/192/256-cbc/ecb, des-ede3-cbc, des-ede3)", alg)
	}
	want := map[string]int{"aes-128": 16, "aes-192": 24, "aes-256": 32, "des-ede3": 24}[name]
	if want == 0 {
		return nil, "", fmt.Errorf("unsupported cipher %q", alg)
	}
	if len(key) != want {
		return nil, "", fmt.Errorf("invalid key length %d for %s (want %d)", len(key), alg, want)
	}
	var b cipher.Block
	var err error
	switch name {
	case "des-ede3":
		b, err = des.NewTripleDESCipher(key)
	default:
		b, err = aes.NewCipher(key)
	}
	return b, mode, err
}

// jsBytes reads a string (in encoding enc, default utf8), Buffer, typed
// array or ArrayBuffer.
func jsBytes(rt *goja.Runtime, v, enc goja.Value) []byte {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		panic(rt.NewTypeError("the data argument must be a string or a Buffer"))
	}
	if _, isObj := v.(*goja.Object); !isObj {
		s := v.String()
		name := "utf8"
		if enc != nil && !goja.IsUndefined(enc) && !goja.IsNull(enc) {
			name = strings.ToLower(enc.String())
		}
		switch name {
		case "utf8", "utf-8":
			return []byte(strings.ToValidUTF8(s, "\uFFFD"))
		case "hex":
			b, err := hex.DecodeString(s[:len(s)&^1])
			if err != nil {
				panic(rt.NewTypeError("invalid hex string"))
			}
			return b
		case "base64", "base64url":
			s = strings.TrimRight(strings.NewReplacer("-", "+", "_", "/").Replace(s), "=")
			b, err := base64.RawStdEncoding.DecodeString(s)
			if err != nil {
				panic(rt.NewTypeError("invalid base64 string"))
			}
			return b
		case "latin1", "binary", "ascii":
			b := make([]byte, 0, len(s))
			for _, r := range s {
				b = append(b, byte(r))
			}
			return b
		}
		panic(rt.NewTypeError("unknown encoding: " + name))
	}
	b, err := bytesOf(rt, v)
	if err != nil {
		panic(rt.NewTypeError(err.Error()))
	}
	return append([]byte(nil), b...)
}

// encodeOut renders output bytes in Node's encodings, or as a Buffer.
func encodeOut(rt *goja.Runtime, b []byte, enc goja.Value) goja.Value {
	if enc == nil || goja.IsUndefined(enc) || goja.IsNull(enc) || enc.String() == "buffer" {
		return buffer.WrapBytes(rt, append([]byte{}, b...))
	}
	switch strings.ToLower(enc.String()) {
	case "hex":
		return rt.ToValue(hex.EncodeToString(b))
	case "base64":
		return rt.ToValue(base64.StdEncoding.EncodeToString(b))
	case "base64url":
		return rt.ToValue(base64.RawURLEncoding.EncodeToString(b))
	case "utf8", "utf-8":
		if !utf8.Valid(b) {
			return rt.ToValue(strings.ToValidUTF8(string(b), "\uFFFD"))
		}
		return rt.ToValue(string(b))
	case "latin1", "binary":
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return rt.ToValue(string(r))
	}
	panic(rt.NewTypeError("unknown encoding: " + enc.String()))
}
