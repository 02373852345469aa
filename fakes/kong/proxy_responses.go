package kong

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// version is the Kong version the emulation answers as.
const version = "3.9.1"

const (
	serverHeader = "kong/" + version
	viaHeader    = "1.1 kong/" + version

	mimeJSON  = "application/json; charset=utf-8"
	mimePlain = "text/plain; charset=utf-8"
	mimeHTML  = "text/html; charset=utf-8"
	mimeXML   = "application/xml; charset=utf-8"
	mimeGRPC  = "application/grpc"
)

// errorMessages are the bodies of Kong's error handler for nginx-generated
// errors (kong/error_handlers.lua).
var errorMessages = map[int]string{
	400: "Bad request",
	404: "Not found",
	405: "Method not allowed",
	408: "Request timeout",
	411: "Length required",
	412: "Precondition failed",
	413: "Payload too large",
	414: "URI too long",
	417: "Expectation failed",
	494: "Request header or cookie too large",
	500: "An unexpected error occurred",
	502: "An invalid response was received from the upstream server",
	503: "The upstream server is currently unavailable",
	504: "The upstream server is timing out",
}

func errorMessage(status int) string {
	if m, ok := errorMessages[status]; ok {
		return m
	}
	return "The upstream server responded with " + strconv.Itoa(status)
}

// mimeTypes is Kong's MIME_TYPES table (kong/tools/http.lua).
var mimeTypes = map[string]string{
	"application/grpc": "",
	"text/html":        mimeHTML,
	"application/json": mimeJSON,
	"text/plain":       mimePlain,
	"application/xml":  mimeXML,
	"application":      mimeJSON,
	"text":             mimePlain,
}

// acceptRe is Kong's pattern for one Accept entry: a media range and an
// optional q (the last parameter group captured wins, as in PCRE).
var acceptRe = regexp.MustCompile(`(?i)^((?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*)/(?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*))(?:\s*;\s*q=(1(?:\.0{0,3}|)|0(?:\.\d{0,3}|))|\s*;\s*[a-z0-9][a-z0-9\-!#$&^_+.]+(?:=[^;]*|))*`)

// responseType is Kong's get_response_type: the highest-q Accept entry
// that names a known type, JSON by default.
func responseType(accept string) string {
	ct := mimeJSON
	if accept == "" {
		return ct
	}
	maxQ := 0.0
	for _, v := range strings.Split(accept, ",") {
		m := acceptRe.FindStringSubmatch(strings.TrimSpace(v))
		if m == nil {
			continue
		}
		q := 1.0
		if m[2] != "" {
			q, _ = strconv.ParseFloat(m[2], 64)
		}
		if q > maxQ {
			maxQ = q
			ct = mimeType(m[1])
		}
	}
	return ct
}

// mimeType is Kong's get_mime_type with use_default.
func mimeType(h string) string {
	h = strings.TrimSpace(h)
	h, _, _ = strings.Cut(h, ";")
	typ, sub, ok := strings.Cut(h, "/")
	if !ok {
		return mimeJSON
	}
	var mt string
	if sub == "*" {
		if typ == "*" {
			return mimeJSON
		}
		mt = mimeTypes[typ]
	} else {
		mt = mimeTypes[h]
	}
	if mt == "" {
		return mimeJSON
	}
	return mt
}

// errorBody formats msg with Kong's error template for the negotiated type.
func errorBody(mime, msg, requestID string) string {
	switch mime {
	case mimeHTML:
		return "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>" +
			msg + ".</p>\n    <p>request_id: " + requestID + "</p>\n  </body>\n</html>\n"
	case mimeXML:
		return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>" + msg + "</message>\n  <requestid>" + requestID + "</requestid>\n</error>\n"
	case mimePlain:
		return msg + "\nrequest_id: " + requestID + "\n"
	default:
		return "{\n  \"message\":\"" + msg + "\",\n  \"request_id\":\"" + requestID + "\"\n}"
	}
}

// errorHandlerType is the negotiation of Kong's error handler (used for the
// 500/502/503/504 that nginx generates): Accept, then the request's
// Content-Type, then error_default_type (text/plain).
func errorHandlerType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = r.Header.Get("Content-Type")
		if accept == "" {
			accept = "text/plain"
		}
	}
	if strings.HasPrefix(accept, mimeGRPC) {
		return mimeGRPC
	}
	return responseType(accept)
}

// cjsonString quotes s the way lua-cjson does (it escapes '/').
func cjsonString(s string) string {
	q := strconv.Quote(s)
	return strings.ReplaceAll(q, "/", `\/`)
}
