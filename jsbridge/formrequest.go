package jsbridge

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract"
)

// formFromResponse implements FormRequest.from_response(response, opts).
func (s *Spider) formFromResponse(call goja.FunctionCall) goja.Value {
	vm := s.vm
	j, ok := s.responseOf(call.Argument(0))
	if !ok {
		panic(vm.NewTypeError("FormRequest.from_response: first argument must be a Response"))
	}
	opts, _ := call.Argument(1).(*goja.Object)
	fo := extract.FormOptions{}
	rest := vm.NewObject()
	if opts != nil {
		if _, err := checkOptions(opts, kindForm); err != nil {
			panic(vm.NewTypeError(err.Error()))
		}
		for _, k := range opts.Keys() {
			v := opts.Get(k)
			switch k {
			case "formname":
				fo.FormName = v.String()
			case "formid":
				fo.FormID = v.String()
			case "formxpath":
				fo.FormXPath = v.String()
			case "formcss":
				fo.FormCSS = v.String()
			case "formnumber":
				fo.FormNumber = int(v.ToInteger())
			case "dont_click":
				fo.DontClick = v.ToBoolean()
			case "clickdata":
				if o, ok := v.(*goja.Object); ok {
					fo.ClickData = map[string]any{}
					for _, ck := range o.Keys() {
						fo.ClickData[ck] = o.Get(ck).Export()
					}
				}
			case "formdata":
				if o, ok := v.(*goja.Object); ok {
					for _, fk := range o.Keys() {
						fv := o.Get(fk)
						if goja.IsNull(fv) || goja.IsUndefined(fv) {
							fo.FormData = append(fo.FormData, extract.FormField{Name: fk, Null: true})
							continue
						}
						if arr, ok := fv.(*goja.Object); ok && arr.ClassName() == "Array" {
							n := int(arr.Get("length").ToInteger())
							for i := 0; i < n; i++ {
								fo.FormData = append(fo.FormData, extract.FormField{Name: fk, Value: arr.Get(strconv.Itoa(i)).String()})
							}
							continue
						}
						fo.FormData = append(fo.FormData, extract.FormField{Name: fk, Value: fv.String()})
					}
				}
			case "method":
				fo.Method = v.String()
			case "url":
				fo.URL = v.String()
			default:
				_ = rest.Set(k, v)
			}
		}
	}
	fr, err := extract.FormRequest(j.r, fo)
	if err != nil {
		s.throw(err)
	}
	_ = rest.Set("url", fr.URL)
	_ = rest.Set("method", fr.GetMethod())
	if !present(rest.Get("kind")) {
		_ = rest.Set("kind", crawl.KindForm) // a form submitted by a click
	}
	if fr.Body != nil {
		_ = rest.Set("body", string(fr.Body))
	}
	hdrs := s.headersObject(fr.Headers)
	if uh, ok := rest.Get("headers").(*goja.Object); ok {
		for _, k := range uh.Keys() {
			_ = hdrs.Set(k, uh.Get(k))
		}
	}
	_ = rest.Set("headers", hdrs)
	r, err := vm.New(vm.Get("Request"), rest)
	if err != nil {
		panic(err)
	}
	_ = r.SetPrototype(s.protos.formRequest)
	return r
}

// applyFormdata encodes FormRequest's formdata: the body of a POST, the
// query of a GET.
func (s *Spider) applyFormdata(r *crawl.Request, opts *goja.Object) error {
	if r.Kind == "" {
		r.Kind = crawl.KindForm
	}
	fd := opts.Get("formdata")
	if !present(fd) {
		if r.Method == "" {
			r.Method = "POST"
		}
		return nil
	}
	o, ok := fd.(*goja.Object)
	if !ok {
		return fmt.Errorf("FormRequest: formdata must be an object")
	}
	q := encodePairs(orderedPairs(o))
	if r.Method == "" {
		r.Method = "POST"
	}
	if r.Method == "GET" {
		sep := "?"
		if strings.Contains(r.URL, "?") {
			sep = "&"
		}
		r.URL += sep + q
		return nil
	}
	r.Body = []byte(q)
	r.Headers.SetDefault("Content-Type", "application/x-www-form-urlencoded")
	return nil
}
