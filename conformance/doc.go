// Package conformance is the differential suite of issue 15: one request
// matrix (cases.go) run against the Kong emulation (fakes/kong) and real
// Kong 3.9 with the same kong.yml and the same upstreams, comparing status
// lines, bodies per Accept, headers, what the upstream received, retries
// and their timing, error-log lines and the Admin API. Values that differ
// by nature (request ids, latencies, dates, ports, uuids) are normalised;
// nothing else is. A case on which the emulation cannot match real Kong is
// listed with its reason in exceptions.yaml, never dropped.
//
// Real Kong is right: a difference is fixed in fakes/kong or becomes an
// exception. The package sits above lab and fakes (the fakes may not
// import lab); `make conformance` runs it and writes
// reports/conformance/index.html and results.json.
package conformance
