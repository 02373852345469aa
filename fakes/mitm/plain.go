package mitm

import (
	"fmt"
	"net/http"
)

// servePlain proxies an absolute-form http:// request (curl --proxy with an
// http:// URL) and logs it.
func (p *Proxy) servePlain(w http.ResponseWriter, r *http.Request) {
	entry := ConnLog{ID: p.nextID.Add(1), Client: r.RemoteAddr, Host: r.URL.Host, Mode: LogHTTP}
	rec := &statusRecorder{ResponseWriter: w}
	p.plain.ServeHTTP(rec, r)
	entry.Status = rec.status
	if rec.err != nil {
		entry.UpstreamVerify = rec.err.Error()
	}
	p.record(entry)
}

func (p *Proxy) plainError(w http.ResponseWriter, r *http.Request, err error) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.err = err
	}
	w.Header().Set("Proxy-Status", proxyStatus(err))
	http.Error(w, fmt.Sprintf("chaoslab mitm: %s %s: %v", r.Method, r.URL, err), http.StatusBadGateway)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	err    error
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (used by ReverseProxy) reach the
// real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush keeps streamed responses streaming through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
