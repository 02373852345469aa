package config

// CorrelationIDConfig is correlation-id's config (Kong 3.9 defaults).
type CorrelationIDConfig struct {
	HeaderName     string `json:"header_name"`
	Generator      string `json:"generator"` // uuid, uuid#counter, tracker
	EchoDownstream bool   `json:"echo_downstream"`
}

func parseCorrelationID(o *obj) any {
	return &CorrelationIDConfig{
		HeaderName:     o.str("header_name", "Kong-Request-ID"),
		Generator:      o.strOneOf("generator", "uuid#counter", "uuid", "uuid#counter", "tracker"),
		EchoDownstream: o.boolean("echo_downstream", false),
	}
}

func init() { registerPlugin("correlation-id", 100001, parseCorrelationID) }
