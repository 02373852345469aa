package config

// KeyAuthConfig is key-auth's config (Kong 3.9 defaults).
type KeyAuthConfig struct {
	KeyNames        []string `json:"key_names"`
	HideCredentials bool     `json:"hide_credentials"`
	Anonymous       string   `json:"anonymous"`
	KeyInHeader     bool     `json:"key_in_header"`
	KeyInQuery      bool     `json:"key_in_query"`
	KeyInBody       bool     `json:"key_in_body"`
	RunOnPreflight  bool     `json:"run_on_preflight"`
	Realm           string   `json:"realm"`
}

func parseKeyAuth(o *obj) any {
	c := &KeyAuthConfig{
		KeyNames:        o.strings("key_names", "an array", []string{"apikey"}),
		HideCredentials: o.boolean("hide_credentials", false),
		Anonymous:       o.str("anonymous", ""),
		KeyInHeader:     o.boolean("key_in_header", true),
		KeyInQuery:      o.boolean("key_in_query", true),
		KeyInBody:       o.boolean("key_in_body", false),
		RunOnPreflight:  o.boolean("run_on_preflight", true),
		Realm:           o.str("realm", ""),
	}
	if c.KeyInBody {
		o.fail("key_in_body", o.vals["key_in_body"], "the emulation does not support key_in_body")
	}
	return c
}

func init() { registerPlugin("key-auth", 1250, parseKeyAuth) }
