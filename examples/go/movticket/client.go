// Package movticket is a client of the movticket partner API, standard library only.
//
// Written from docs/channel-guide.en.md: signing (section 5), envelopes in XML and JSON
// (3.1, 3.2), retries with the same req_id (7, 11) and callback signatures (14).
package movticket

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// InterfaceParams lists each interface's own parameters in the order of its table in section 8:
// the `full` signing order.
var InterfaceParams = map[string][]string{
	"cities":          {},
	"regionsByCity":   {"city_id"},
	"cinemasByRegion": {"region_id"},
	"buyByCinema":     {"cinema_id", "count", "order_no"},
	"kinds":           {},
	"cinemasByKind":   {"kind_id", "city_id"},
	"buyByKind":       {"kind_id", "count", "order_no"},
	"payByCard":       {"card_no", "mobile", "total_price"},
	"status":          {"card_no", "order_no"},
	"ban":             {"card_no", "reason"},
	"resendSms":       {"card_no", "mobile"},
}

// xmlLists are the only list elements (section 3.2); any other childless element is a string.
var xmlLists = map[string]bool{"cities": true, "regions": true, "kinds": true, "cinemas": true}

// CallbackParams is the signed order of a callback's parameters (section 14); hashcode follows.
var CallbackParams = []string{"partner_id", "sec_id", "event_id", "event_type", "card_no", "seq",
	"status", "used_count", "remaining", "occurred_at", "timestamp"}

// retryable answers are retried with the same req_id (sections 7.3, 11).
var retryable = map[string]bool{"internal": true, "unavailable": true, "timeout": true, "rate_limited": true}

// Param is one request parameter; requests keep their order.
type Param struct{ Name, Value string }

// MD5Hex is the lower-case hex md5 of s's UTF-8 bytes.
func MD5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// SigningString is what is hashed: basic = partner_id+bus_id+req_id+timestamp+md5key;
// full = every value in wire order (without format and hashcode) + md5key.
func SigningString(mode string, params []Param, md5key string) string {
	var b strings.Builder
	if mode == "basic" {
		values := map[string]string{}
		for _, p := range params {
			values[p.Name] = p.Value
		}
		for _, name := range []string{"partner_id", "bus_id", "req_id", "timestamp"} {
			b.WriteString(values[name])
		}
	} else {
		for _, p := range params {
			if p.Name != "format" && p.Name != "hashcode" {
				b.WriteString(p.Value)
			}
		}
	}
	return b.String() + md5key
}

// Hashcode signs params in the given mode.
func Hashcode(mode string, params []Param, md5key string) string {
	return MD5Hex(SigningString(mode, params, md5key))
}

// VerifyCallback reports whether a callback's hashcode matches its parameters.
func VerifyCallback(form url.Values, md5key string) bool {
	var b strings.Builder
	for _, name := range append(CallbackParams, "hashcode") {
		if _, ok := form[name]; !ok {
			return false
		}
	}
	for _, name := range CallbackParams {
		b.WriteString(form.Get(name))
	}
	want := MD5Hex(b.String() + md5key)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(form.Get("hashcode")))) == 1
}

// Error is an error envelope, or no usable answer (Code 0, Type "network_error").
type Error struct {
	Method, Type, Message, ReqID string
	Code                         int
	Extra                        map[string]string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %d %s: %s (req_id %s)", e.Method, e.Code, e.Type, e.Message, e.ReqID)
}

// Envelope is either format parsed into one shape: Data is set on success, Error otherwise.
// Inside Data a value is a string, a map[string]any (card) or a []any of maps (lists).
type Envelope struct {
	Code  int
	Data  map[string]any
	Error map[string]string
}

// ParseEnvelope reads a JSON or XML body.
func ParseEnvelope(body []byte, contentType string) (*Envelope, error) {
	if strings.Contains(contentType, "json") {
		var raw struct {
			Code  int               `json:"code"`
			Data  map[string]any    `json:"data"`
			Error map[string]string `json:"error"`
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, err
		}
		return &Envelope{Code: raw.Code, Data: raw.Data, Error: raw.Error}, nil
	}
	root, err := parseXML(body)
	if err != nil {
		return nil, err
	}
	env := &Envelope{}
	for _, child := range root.children {
		switch child.name {
		case "code":
			env.Code, _ = strconv.Atoi(strings.TrimSpace(child.text))
		case "data":
			env.Data = map[string]any{}
			for _, c := range child.children {
				env.Data[c.name] = c.value()
			}
		case "error":
			env.Error = map[string]string{}
			for _, c := range child.children {
				env.Error[c.name] = c.text
			}
		}
	}
	return env, nil
}

type node struct {
	name     string
	text     string
	children []*node
}

func (n *node) value() any {
	if xmlLists[n.name] {
		list := []any{}
		for _, item := range n.children {
			list = append(list, item.value())
		}
		return list
	}
	if len(n.children) > 0 {
		obj := map[string]any{}
		for _, c := range n.children {
			obj[c.name] = c.value()
		}
		return obj
	}
	return n.text
}

func parseXML(body []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, errors.New("empty XML body")
	}
	return root, nil
}

// Client calls the partner API with one security config.
type Client struct {
	BaseURL, PartnerID, BusID, SecID, MD5Key string
	SignMode                                 string // "basic" or "full"
	Format                                   string // "json" or "xml"
	Location                                 *time.Location
	HTTP                                     *http.Client
	Attempts                                 int
	RetryDelay, MaxRetryAfter                time.Duration
	Log                                      func(string)
}

// NewReqID returns a fresh req_id: letters and digits, at most 20.
func NewReqID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().Format("060102150405") + hex.EncodeToString(b)
}

// CheckParams reports an unknown interface or a parameter the interface does not take.
func CheckParams(method string, params map[string]string) error {
	own, ok := InterfaceParams[method]
	if !ok {
		return fmt.Errorf("unknown interface %s", method)
	}
	known := map[string]bool{}
	for _, name := range own {
		known[name] = true
	}
	for name := range params {
		if !known[name] {
			return fmt.Errorf("%s takes no %s", method, name)
		}
	}
	return nil
}

// Form builds the signed request body of one attempt.
func (c *Client) Form(method string, params map[string]string, reqID string) ([]Param, error) {
	if err := CheckParams(method, params); err != nil {
		return nil, err
	}
	own := InterfaceParams[method]
	fields := []Param{{Name: "partner_id", Value: c.PartnerID}, {Name: "sec_id", Value: c.SecID}, {Name: "bus_id", Value: c.BusID},
		{Name: "req_id", Value: reqID}, {Name: "ver", Value: "1000"}, {Name: "timestamp", Value: time.Now().In(c.Location).Format("20060102150405")}}
	for _, name := range own { // table order; absent optional parameters are not sent
		if v, ok := params[name]; ok {
			fields = append(fields, Param{name, v})
		}
	}
	fields = append(fields, Param{"hashcode", Hashcode(c.SignMode, fields, c.MD5Key)}, Param{"format", c.Format})
	return fields, nil
}

func (c *Client) sendOnce(method string, params map[string]string, reqID string) (*Envelope, http.Header, error) {
	fields, err := c.Form(method, params, reqID)
	if err != nil {
		return nil, nil, err
	}
	body := url.Values{}
	for _, f := range fields {
		body.Add(f.Name, f.Value)
	}
	res, err := c.HTTP.Post(c.BaseURL+"/movTicket/"+method, "application/x-www-form-urlencoded",
		strings.NewReader(body.Encode()))
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	env, err := ParseEnvelope(raw, res.Header.Get("Content-Type"))
	return env, res.Header, err
}

// Call calls an interface with a fresh req_id.
func (c *Client) Call(method string, params map[string]string) (map[string]any, error) {
	return c.CallWithReqID(method, params, NewReqID())
}

// CallWithReqID calls an interface and returns its data. Network errors, unreadable answers,
// 500/503/504 and 429 are retried with the same req_id and parameters (fresh timestamp and
// hashcode), so a mutating call takes effect once however many attempts it needs.
func (c *Client) CallWithReqID(method string, params map[string]string, reqID string) (map[string]any, error) {
	if err := CheckParams(method, params); err != nil {
		return nil, err // a mistake in the call is not worth retrying
	}
	delay := c.RetryDelay
	for attempt := 1; ; attempt++ {
		last := attempt >= c.Attempts
		env, header, err := c.sendOnce(method, params, reqID)
		if err != nil {
			if last {
				return nil, &Error{Method: method, Type: "network_error", Message: err.Error(), ReqID: reqID}
			}
			c.logf("retrying %s with the same req_id %s after %v", method, reqID, err)
		} else {
			if env.Error == nil {
				return env.Data, nil
			}
			wait := delay
			if env.Error["type"] == "rate_limited" {
				if s, err := strconv.Atoi(header.Get("Retry-After")); err == nil {
					wait = time.Duration(s) * time.Second
				}
				if wait > c.MaxRetryAfter {
					last = true // e.g. the daily resend cap: not worth waiting for here
				}
			}
			if !retryable[env.Error["type"]] || last {
				extra := map[string]string{}
				for k, v := range env.Error {
					if k != "type" && k != "message" {
						extra[k] = v
					}
				}
				return nil, &Error{Method: method, Code: env.Code, Type: env.Error["type"],
					Message: env.Error["message"], ReqID: reqID, Extra: extra}
			}
			c.logf("retrying %s with the same req_id %s after %d %s", method, reqID, env.Code, env.Error["type"])
			delay = wait
		}
		time.Sleep(delay)
		delay *= 2
	}
}

func (c *Client) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(fmt.Sprintf(format, args...))
	}
}
